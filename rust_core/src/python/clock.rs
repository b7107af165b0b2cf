//! Python classes for the clocks: `TestClock` (simulated) and `LiveClock` (wall time).

use pyo3::prelude::*;
use pyo3::types::PyType;

use super::types::nanos_arg;
use crate::clock::{Clock, LiveClock, TestClock, TimeEvent};
use crate::types::UnixNanos;

/// A timer or alert firing: its name, scheduled time and scheduling sequence number.
#[pyclass(frozen, name = "TimeEvent", module = "pi5trading._core")]
#[derive(Debug, Clone)]
pub(crate) struct PyTimeEvent(pub(crate) TimeEvent);

#[pymethods]
impl PyTimeEvent {
    #[new]
    #[pyo3(signature = (name, ts_event, seq = 0))]
    fn py_new(name: &str, ts_event: i128, seq: u64) -> PyResult<Self> {
        Ok(Self(TimeEvent {
            name: name.into(),
            ts_event: UnixNanos(nanos_arg("ts_event", ts_event)?),
            seq,
        }))
    }
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }
    #[getter]
    fn ts_event(&self) -> u64 {
        self.0.ts_event.0
    }
    #[getter]
    fn seq(&self) -> u64 {
        self.0.seq
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Self>().is_ok_and(|o| o.get().0 == self.0)
    }
    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&*self.0.name, self.0.ts_event, self.0.seq).hash(&mut h);
        h.finish()
    }
    fn __repr__(&self) -> String {
        format!(
            "TimeEvent('{}', ts_event={}, seq={})",
            self.0.name, self.0.ts_event, self.0.seq
        )
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> (Bound<'py, PyType>, (String, u64, u64)) {
        let e = &slf.get().0;
        (slf.get_type(), (e.name.to_string(), e.ts_event.0, e.seq))
    }
}

fn wrap(events: Vec<TimeEvent>) -> Vec<PyTimeEvent> {
    events.into_iter().map(PyTimeEvent).collect()
}

/// The methods both clocks share (the `Clock` trait).
macro_rules! clock_methods {
    ($py:ident, { $($extra:tt)* }) => {
        #[pymethods]
        impl $py {
            $($extra)*

            /// Now, in UTC nanoseconds.
            fn timestamp_ns(&self) -> u64 {
                self.0.now().0
            }

            /// A repeating timer firing every `interval_ns` after `start_ns` (default: now)
            /// until `stop_ns` inclusive (default: never).
            #[pyo3(signature = (name, interval_ns, start_ns = None, stop_ns = None))]
            fn set_timer(
                &mut self,
                name: &str,
                interval_ns: i128,
                start_ns: Option<i128>,
                stop_ns: Option<i128>,
            ) -> PyResult<()> {
                let start = start_ns.map(|v| nanos_arg("start", v)).transpose()?;
                let stop = stop_ns.map(|v| nanos_arg("stop", v)).transpose()?;
                Ok(self.0.set_timer(
                    name,
                    nanos_arg("interval", interval_ns)?,
                    start.map(UnixNanos),
                    stop.map(UnixNanos),
                )?)
            }

            /// A one-shot alert at `at_ns`.
            fn set_time_alert(&mut self, name: &str, at_ns: i128) -> PyResult<()> {
                let at = UnixNanos(nanos_arg("at", at_ns)?);
                Ok(self.0.set_time_alert(name, at)?)
            }

            /// Cancels a timer or alert; `False` if none is pending under `name`.
            fn cancel_timer(&mut self, name: &str) -> bool {
                self.0.cancel_timer(name)
            }

            /// Names of pending timers and alerts, sorted.
            #[getter]
            fn timer_names(&self) -> Vec<String> {
                self.0.timer_names()
            }

            /// The next firing time of `name`, or `None`.
            fn next_time_ns(&self, name: &str) -> Option<u64> {
                self.0.next_time(name).map(|t| t.0)
            }

            /// The earliest pending firing time, or `None`.
            fn next_deadline_ns(&self) -> Option<u64> {
                self.0.next_deadline().map(|t| t.0)
            }
        }
    };
}

/// A simulated clock, moved forward by the data (backtests) or by tests.
#[pyclass(name = "TestClock", module = "pi5trading._core")]
#[derive(Debug)]
pub(crate) struct PyTestClock(TestClock);

clock_methods!(PyTestClock, {
    /// Tells pytest this is not a test class (its name starts with `Test`).
    #[classattr]
    #[pyo3(name = "__test__")]
    fn not_a_test() -> bool {
        false
    }

    #[new]
    #[pyo3(signature = (start_ns = 0))]
    fn py_new(start_ns: i128) -> PyResult<Self> {
        Ok(Self(TestClock::new(UnixNanos(nanos_arg(
            "start_ns", start_ns,
        )?))))
    }

    /// Moves time forward to `to_ns` and returns the timer events due on the way, in
    /// firing order. Time never goes backwards (`InvalidInputError`).
    fn advance_time(&mut self, to_ns: i128) -> PyResult<Vec<PyTimeEvent>> {
        let to = UnixNanos(nanos_arg("to", to_ns)?);
        Ok(wrap(self.0.advance(to)?))
    }
});

/// Wall-clock time (UTC, never going backwards); timers fire when polled.
#[pyclass(name = "LiveClock", module = "pi5trading._core")]
#[derive(Debug)]
pub(crate) struct PyLiveClock(LiveClock);

clock_methods!(PyLiveClock, {
    #[new]
    fn py_new() -> Self {
        Self(LiveClock::new())
    }

    /// The timer events due now, in firing order.
    fn poll(&mut self) -> Vec<PyTimeEvent> {
        let mut out = Vec::new();
        self.0.drain_due(&mut out);
        wrap(out)
    }
});

/// Registers the clock classes.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTimeEvent>()?;
    m.add_class::<PyTestClock>()?;
    m.add_class::<PyLiveClock>()?;
    Ok(())
}
