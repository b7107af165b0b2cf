//! Per-event work of the node's sinks done without per-event Python: bars as the storage
//! rows the repository writes, rows as PostgreSQL COPY text, bars as the JSON message a
//! channel client gets.
//!
//! Each output is byte-for-byte what the Python reference makes (`RecordConverter` +
//! `TableSpec.encode`, `_InsertSql.copy_payload`, `to_message` + msgspec): the tests in
//! `tests/unit/sinks/test_core_fast_paths.py` compare them on recorded event streams.

use std::fmt::Write as _;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyList, PySequence, PySet, PyString, PyTuple};

use super::orders::PyOrderEvent;
use super::portfolio::PyPositionEvent;
use super::types::PyBar;
use crate::orders::OrderEvent;
use crate::portfolio::PositionEvent;
use crate::records::{push_json_str as push_msgspec_str, Dec};
use crate::risk::session::civil_from_days;
use crate::types::{Bar, Interval, Price, FIXED_PRECISION};

/// The decimal digits of `v`, written at the end of `out` (no `core::fmt`: this runs
/// several times per bar).
fn u64_digits(mut v: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut start = out.len();
    loop {
        start -= 1;
        out[start] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &out[start..]
}

fn push_u64(buf: &mut String, v: u64) {
    let mut digits = [0_u8; 20];
    buf.push_str(text(u64_digits(v, &mut digits)));
}

/// `interval.to_string()`: `1m`, `15m`, `1d`.
fn push_interval(buf: &mut String, interval: Interval) {
    push_u64(buf, u64::from(interval.step));
    buf.push_str(interval.unit.suffix());
}

/// ASCII digits as text.
fn text(d: &[u8]) -> &str {
    std::str::from_utf8(d).unwrap_or("")
}

/// The value `raw` units of 10^-9 at `precision` places as Python's `str(Decimal(text))`
/// writes the core's text for it (`format_fixed` + `decimal_str`), without `core::fmt`:
/// this runs five times per bar. `signed_zero`: a negative raw that is zero at its
/// precision keeps its `-` (as msgspec writes `Decimal("-0.00")`); storage drops it
/// (`canonical_decimal`).
fn push_fixed(buf: &mut String, raw: i64, precision: u8, signed_zero: bool) {
    let precision = precision.min(FIXED_PRECISION);
    let unit = 10_u64.pow(u32::from(FIXED_PRECISION - precision));
    let coefficient = raw.unsigned_abs() / unit;
    let mut space = [0_u8; 20];
    let digits = u64_digits(coefficient, &mut space);
    let n = digits.len() as i64;
    let p = i64::from(precision);
    if raw < 0 && (coefficient != 0 || signed_zero) {
        buf.push('-');
    }
    let adjusted = n - 1 - p;
    if adjusted >= -6 {
        let left = n - p;
        if p == 0 {
            buf.push_str(text(digits));
        } else if left <= 0 {
            buf.push_str("0.");
            for _ in 0..-left {
                buf.push('0');
            }
            buf.push_str(text(digits));
        } else {
            let (int, frac) = digits.split_at(left as usize);
            buf.push_str(text(int));
            buf.push('.');
            buf.push_str(text(frac));
        }
    } else {
        buf.push_str(text(&digits[..1]));
        if n > 1 {
            buf.push('.');
            buf.push_str(text(&digits[1..]));
        }
        let _ = write!(buf, "E{adjusted}");
    }
}

fn fixed_str(raw: i64, precision: u8, signed_zero: bool) -> String {
    let mut s = String::with_capacity(24);
    push_fixed(&mut s, raw, precision, signed_zero);
    s
}

/// The `bars` row of one bar, encoded as `TableSpec.encode` makes it: `(instrument_id,
/// interval, open time, open, high, low, close, volume)` with the prices as exact decimal
/// strings. A `Bar` is validated when it is made (low <= open, close <= high, volume >= 0),
/// so the row needs no check of its own.
pub(crate) fn bar_row<'py>(py: Python<'py>, bar: &Bar) -> PyResult<Bound<'py, PyTuple>> {
    let bt = bar.bar_type;
    // Stored by open time (the engine stamps the close); signed, as Python computes it.
    let open_ts = i128::from(bar.ts_event.0) - i128::from(bt.interval.as_nanos());
    let price = |p: Price| fixed_str(p.raw(), p.precision(), false);
    let mut interval = String::with_capacity(8);
    push_interval(&mut interval, bt.interval);
    let v = bar.volume;
    PyTuple::new(
        py,
        [
            PyString::new(py, bt.symbol.as_str()).into_any(),
            PyString::new(py, &interval).into_any(),
            open_ts.into_pyobject(py)?.into_any(),
            PyString::new(py, &price(bar.open)).into_any(),
            PyString::new(py, &price(bar.high)).into_any(),
            PyString::new(py, &price(bar.low)).into_any(),
            PyString::new(py, &price(bar.close)).into_any(),
            PyString::new(py, &fixed_str(v.raw(), v.precision(), false)).into_any(),
        ],
    )
}

/// `messages` with every `Bar` replaced by its encoded `bars` row (a tuple); every other
/// payload is passed through as it is, in order.
#[pyfunction]
fn bar_rows<'py>(messages: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let py = messages.py();
    let seq = messages.cast::<PySequence>()?;
    let n = seq.len()?;
    let out = PyList::empty(py);
    for i in 0..n {
        let m = seq.get_item(i)?;
        if let Ok(bar) = m.cast::<PyBar>() {
            out.append(bar_row(py, &bar.borrow().0)?)?;
        } else {
            out.append(m)?;
        }
    }
    Ok(out)
}

fn push_copy_escaped(buf: &mut String, text: &str) {
    if !text.contains(['\\', '\t', '\n', '\r']) {
        buf.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            _ => buf.push(c),
        }
    }
}

/// PostgreSQL COPY text (tab-separated, `\N` for NULL, escaped) of encoded rows: what
/// `_InsertSql.copy_payload` builds in Python. Strings and ints are written directly;
/// anything else as its `str()` (booleans `True`/`False`, floats), as Python does.
#[pyfunction]
fn copy_text<'py>(rows: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let py = rows.py();
    let seq = rows.cast::<PySequence>()?;
    let n = seq.len()?;
    let mut buf = String::with_capacity(n * 64);
    for i in 0..n {
        let row = seq.get_item(i)?;
        let row = row
            .cast::<PyTuple>()
            .map_err(|_| PyTypeError::new_err("copy_text: each row must be a tuple"))?;
        for (k, v) in row.iter().enumerate() {
            if k > 0 {
                buf.push('\t');
            }
            if v.is_none() {
                buf.push_str("\\N");
            } else if let Ok(s) = v.cast::<PyString>() {
                push_copy_escaped(&mut buf, s.to_str()?);
            } else if v.is_instance_of::<PyInt>() && !v.is_instance_of::<PyBool>() {
                if let Ok(x) = v.extract::<i64>() {
                    let _ = write!(buf, "{x}");
                } else {
                    push_copy_escaped(&mut buf, v.str()?.to_str()?);
                }
            } else {
                push_copy_escaped(&mut buf, v.str()?.to_str()?);
            }
        }
        buf.push('\n');
    }
    Ok(PyBytes::new(py, buf.as_bytes()))
}

fn push_json_str(buf: &mut String, text: &str) {
    buf.push('"');
    push_json_inner(buf, text);
    buf.push('"');
}

/// `text` escaped for a JSON string, without the quotes.
fn push_json_inner(buf: &mut String, text: &str) {
    if !text.contains(|c: char| c == '"' || c == '\\' || (c as u32) < 0x20) {
        buf.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(buf, "\\u{:04x}", c as u32);
            }
            _ => buf.push(c),
        }
    }
}

/// `iso_ns`: UTC nanoseconds as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
fn push_iso_ns(buf: &mut String, ts: u64) {
    let secs = (ts / 1_000_000_000) as i64;
    let nanos = ts % 1_000_000_000;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let _ = write!(
        buf,
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
}

/// The channel message of a bar, as `ENCODER.encode(to_message(bar))` writes it.
fn bar_json(bar: &Bar) -> String {
    let bt = bar.bar_type;
    let mut buf = String::with_capacity(224);
    // msgspec's order: the tag, the class's own fields, then the (keyword-only) base's.
    buf.push_str("{\"type\":\"bar\",\"symbol\":");
    push_json_str(&mut buf, bt.symbol.as_str());
    buf.push_str(",\"interval\":\"");
    push_interval(&mut buf, bt.interval);
    buf.push('"');
    for (name, raw, precision) in [
        ("open", bar.open.raw(), bar.open.precision()),
        ("high", bar.high.raw(), bar.high.precision()),
        ("low", bar.low.raw(), bar.low.precision()),
        ("close", bar.close.raw(), bar.close.precision()),
        ("volume", bar.volume.raw(), bar.volume.precision()),
    ] {
        buf.push_str(",\"");
        buf.push_str(name);
        buf.push_str("\":\"");
        push_fixed(&mut buf, raw, precision, true);
        buf.push('"');
    }
    buf.push_str(",\"topic\":\"data.bars.");
    push_json_inner(&mut buf, bt.symbol.as_str());
    buf.push('.');
    push_interval(&mut buf, bt.interval);
    buf.push('"');
    buf.push_str(",\"ts\":\"");
    push_iso_ns(&mut buf, bar.ts_event.0);
    buf.push('"');
    buf.push('}');
    buf
}

/// The JSON of a bar's channel message: what msgspec makes of `to_message(bar)`, in Rust.
/// Its topic is `bar.topic`.
#[pyfunction]
fn bar_message<'py>(bar: PyRef<'py, PyBar>) -> Bound<'py, PyBytes> {
    PyBytes::new(bar.py(), bar_json(&bar.0).as_bytes())
}

fn push_dec(buf: &mut String, raw: i128) {
    buf.push('"');
    buf.push_str(&Dec::from_raw(raw).python_str());
    buf.push('"');
}

/// The channel message of an order event, as `ENCODER.encode(to_message(event))` writes
/// it: its topic and its JSON.
fn order_json(e: &OrderEvent) -> (String, String) {
    let topic = format!("orders.{}", e.kind.as_str());
    let mut buf = String::with_capacity(320);
    buf.push_str("{\"type\":\"order\",\"order_id\":");
    push_msgspec_str(&mut buf, e.client_order_id.as_str());
    buf.push_str(",\"strategy_id\":");
    push_msgspec_str(&mut buf, e.strategy_id.as_str());
    buf.push_str(",\"instrument\":");
    push_msgspec_str(&mut buf, e.instrument.as_str());
    buf.push_str(",\"kind\":");
    push_msgspec_str(&mut buf, e.kind.as_str());
    buf.push_str(",\"status\":");
    push_msgspec_str(&mut buf, e.status.as_str());
    buf.push_str(",\"reason\":");
    push_msgspec_str(&mut buf, &e.reason);
    buf.push_str(",\"denial_code\":");
    match e.denial.as_deref() {
        Some(d) => push_msgspec_str(&mut buf, d.code.as_str()),
        None => buf.push_str("null"),
    }
    buf.push_str(",\"fill\":");
    match &e.fill {
        Some(f) => {
            let _ = write!(buf, "{{\"trade_id\":{},\"side\":", f.trade_id);
            push_msgspec_str(&mut buf, f.side.as_str());
            buf.push_str(",\"quantity\":");
            push_dec(&mut buf, i128::from(f.quantity.raw()));
            buf.push_str(",\"price\":");
            push_dec(&mut buf, i128::from(f.price.raw()));
            buf.push_str(",\"commission\":");
            push_dec(&mut buf, i128::from(f.commission.raw()));
            buf.push_str(",\"liquidity\":");
            push_msgspec_str(&mut buf, f.liquidity.as_str());
            buf.push('}');
        }
        None => buf.push_str("null"),
    }
    buf.push_str(",\"topic\":");
    push_msgspec_str(&mut buf, &topic);
    buf.push_str(",\"ts\":\"");
    push_iso_ns(&mut buf, e.ts.0);
    buf.push_str("\"}");
    (topic, buf)
}

/// The channel message of a position event (see [`order_json`]).
fn position_json(p: &PositionEvent) -> (String, String) {
    let topic = format!("positions.{}", p.instrument.as_str());
    let mut buf = String::with_capacity(256);
    buf.push_str("{\"type\":\"position\",\"strategy_id\":");
    match &p.strategy_id {
        Some(s) => push_msgspec_str(&mut buf, s.as_str()),
        None => buf.push_str("null"),
    }
    buf.push_str(",\"instrument\":");
    push_msgspec_str(&mut buf, p.instrument.as_str());
    buf.push_str(",\"kind\":");
    push_msgspec_str(&mut buf, p.kind.as_str());
    buf.push_str(",\"quantity\":");
    push_dec(&mut buf, i128::from(p.quantity.raw()));
    buf.push_str(",\"avg_price\":");
    match p.avg_px {
        Some(a) => push_dec(&mut buf, i128::from(a.raw())),
        None => buf.push_str("null"),
    }
    buf.push_str(",\"realised_pnl\":");
    push_dec(&mut buf, p.realised);
    buf.push_str(",\"topic\":");
    push_msgspec_str(&mut buf, &topic);
    buf.push_str(",\"ts\":\"");
    push_iso_ns(&mut buf, p.ts.0);
    buf.push_str("\"}");
    (topic, buf)
}

/// An order event's channel message: `(topic, JSON)`, what `to_message` + msgspec make.
#[pyfunction]
fn order_message<'py>(
    event: PyRef<'py, PyOrderEvent>,
) -> (Bound<'py, PyString>, Bound<'py, PyBytes>) {
    let py = event.py();
    let (topic, json) = order_json(&event.0);
    (PyString::new(py, &topic), PyBytes::new(py, json.as_bytes()))
}

/// A position event's channel message: `(topic, JSON)`, what `to_message` + msgspec make.
#[pyfunction]
fn position_message<'py>(
    event: PyRef<'py, PyPositionEvent>,
) -> (Bound<'py, PyString>, Bound<'py, PyBytes>) {
    let py = event.py();
    let (topic, json) = position_json(&event.0);
    (PyString::new(py, &topic), PyBytes::new(py, json.as_bytes()))
}

/// The storage sink's scan of a published batch, on the engine thread: the positions of
/// the order events whose order is not in `known` (the open orders seen before), with
/// their order ids. `known` is updated as the scan goes: an order seen is added, an order
/// whose event leaves it final (`denied`, `rejected`, `filled`, `cancelled`, `expired`)
/// is removed.
#[pyfunction]
fn first_order_events(
    messages: &Bound<'_, PyAny>,
    known: &Bound<'_, PySet>,
) -> PyResult<Vec<(usize, String)>> {
    let py = messages.py();
    let seq = messages.cast::<PySequence>()?;
    let mut out = Vec::new();
    for i in 0..seq.len()? {
        let m = seq.get_item(i)?;
        let Ok(event) = m.cast::<PyOrderEvent>() else {
            continue;
        };
        let e = &event.get().0;
        let oid = PyString::new(py, e.client_order_id.as_str());
        if !known.contains(&oid)? {
            known.add(&oid)?;
            out.push((i, e.client_order_id.as_str().to_owned()));
        }
        if matches!(
            e.status.as_str(),
            "denied" | "rejected" | "filled" | "cancelled" | "expired"
        ) {
            known.discard(&oid)?;
        }
    }
    Ok(out)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(first_order_events, m)?)?;
    m.add_function(wrap_pyfunction!(bar_rows, m)?)?;
    m.add_function(wrap_pyfunction!(copy_text, m)?)?;
    m.add_function(wrap_pyfunction!(bar_message, m)?)?;
    m.add_function(wrap_pyfunction!(order_message, m)?)?;
    m.add_function(wrap_pyfunction!(position_message, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::format_fixed;

    /// `text` (a plain decimal as the core writes one: `-12.3400`) as Python's `str(Decimal(text))`
    /// writes it: the same, except that a value whose first significant digit lies more than 6
    /// places after the point is in scientific notation (`0.000000001` → `1E-9`, `0.000000000`
    /// → `0E-9`), the form `TableSpec.encode` and msgspec give.
    fn decimal_str(text: &str) -> std::borrow::Cow<'_, str> {
        let (sign, body) = match text.strip_prefix('-') {
            Some(rest) => ("-", rest),
            None => ("", text),
        };
        let (int_part, frac) = body.split_once('.').unwrap_or((body, ""));
        let zeros = int_part
            .bytes()
            .chain(frac.bytes())
            .take_while(|&b| b == b'0')
            .count();
        let significant = (int_part.len() + frac.len() - zeros).max(1);
        let adjusted = significant as i64 - 1 - frac.len() as i64;
        if adjusted >= -6 {
            // The common case: no allocation.
            return std::borrow::Cow::Borrowed(text);
        }
        let all: String = [int_part, frac].concat();
        let digits = all.trim_start_matches('0');
        let digits = if digits.is_empty() { "0" } else { digits };
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        std::borrow::Cow::Owned(format!("{sign}{first}{point}{rest}E{adjusted}"))
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_790), (2026, 12, 3));
    }

    #[test]
    fn iso_times() {
        let mut s = String::new();
        push_iso_ns(&mut s, 1_764_770_400_000_000_001);
        assert_eq!(s, "2025-12-03T14:00:00.000000001Z");
    }

    #[test]
    fn decimals_as_python_writes_them() {
        for (plain, python) in [
            ("100.25", "100.25"),
            ("0.000001", "0.000001"),
            ("0.0000001", "1E-7"),
            ("0.00000012", "1.2E-7"),
            ("-0.000000001", "-1E-9"),
            ("0.000000000", "0E-9"),
            ("0.00", "0.00"),
            ("0", "0"),
            ("1.000000000", "1.000000000"),
        ] {
            assert_eq!(decimal_str(plain), python, "{plain}");
        }
    }

    #[test]
    fn fixed_values_as_the_text_route_writes_them() {
        let mut raws = vec![
            0_i64,
            1,
            -1,
            9,
            10,
            999_999_999,
            1_000_000_000,
            i64::MAX,
            i64::MIN + 1,
        ];
        let mut x = 1_i64;
        for _ in 0..18 {
            raws.extend([x, x + 7, -x, 3 * x, x * 9 + 1]);
            x = x.saturating_mul(10);
        }
        for &raw in &raws {
            for precision in 0..=FIXED_PRECISION {
                let unit = 10_i64.pow(u32::from(FIXED_PRECISION - precision));
                let raw = raw / unit * unit; // a value at its precision, as the core keeps them
                let text = format_fixed(raw, precision);
                assert_eq!(
                    fixed_str(raw, precision, true),
                    decimal_str(&text),
                    "{raw} {precision}"
                );
            }
        }
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        push_json_str(&mut s, "A\"B\\C");
        assert_eq!(s, r#""A\"B\\C""#);
    }
}
