//! The one OS thread that talks to IPVS: every netlink call of the director runs on it.
//!
//! The kernel checks `CAP_NET_ADMIN` on the thread that sends each IPVS request, and
//! capabilities are per thread. When `serve` leaves root (`[server] user`), it makes this
//! thread do the switch (`privilege::drop_to` with `Keep::NetAdmin`), so that this thread
//! alone keeps `CAP_NET_ADMIN` and every other thread of the process holds no capability.
//!
//! A job that panics is caught: the thread keeps serving and the caller gets an error, as
//! it would from a blocking-pool task.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use super::LvsError;

type Job = Box<dyn FnOnce() + Send>;

/// A handle on the IPVS thread; the thread ends when the last handle is dropped.
#[derive(Clone)]
pub struct KernelThread {
    jobs: mpsc::Sender<Job>,
}

/// The thread's name (`/proc/PID/task/TID/comm`).
pub const NAME: &str = "meridian-ipvs";

impl KernelThread {
    /// Starts the thread.
    pub fn spawn() -> Result<KernelThread, LvsError> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(NAME.into())
            .spawn(move || {
                for job in rx {
                    if catch_unwind(AssertUnwindSafe(job)).is_err() {
                        tracing::error!("a job on the IPVS thread panicked");
                    }
                }
            })
            .map_err(|e| LvsError::Task(format!("cannot start the IPVS thread: {e}")))?;
        Ok(KernelThread { jobs: tx })
    }

    /// Runs `f` on the thread and returns its result.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, LvsError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // The caller may have gone away; then nobody needs the result.
                let _ = tx.send(f());
            }))
            .map_err(|_| LvsError::Task("the IPVS thread has ended".into()))?;
        rx.await
            .map_err(|_| LvsError::Task("a job on the IPVS thread panicked".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_named_thread_and_a_panic_leaves_it_serving() {
        let k = KernelThread::spawn().unwrap();
        let name = k
            .call(|| std::thread::current().name().map(str::to_string))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some(NAME));
        let r = k.call(|| -> u8 { panic!("boom") }).await;
        assert!(matches!(r, Err(LvsError::Task(_))), "{r:?}");
        assert_eq!(k.call(|| 7).await.unwrap(), 7);
    }
}
