//! Python classes for the exact value types and market data events.
//!
//! Values accept `Decimal`, `str`, `int` or an instance of the same class; a `float` is
//! refused unless the caller asks for it (`from_float`). Errors are `InvalidInputError`
//! (a `ValueError`) naming the field.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString, PyType};

use crate::types::{
    parse_fixed, AggressorSide, AssetClass, Bar, BarType, Currency, Instrument, Interval, Money,
    Price, Quantity, QuoteTick, RoundingMode, Symbol, TradeId, TradeTick, UnixNanos, Venue,
    FIXED_PRECISION,
};
use crate::CoreError;

static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn decimal_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    DECIMAL.import(py, "decimal", "Decimal")
}

/// A `decimal.Decimal` with the exact value of `text`.
pub(crate) fn to_decimal<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    decimal_type(py)?.call1((text,))
}

/// `(raw, precision)` of a Python value given for `field`.
pub(crate) fn fixed_from_py(field: &'static str, obj: &Bound<'_, PyAny>) -> PyResult<(i64, u8)> {
    if let Ok(p) = obj.cast::<PyPrice>() {
        let v = p.get().0;
        return Ok((v.raw(), v.precision()));
    }
    if let Ok(q) = obj.cast::<PyQuantity>() {
        let v = q.get().0;
        return Ok((v.raw(), v.precision()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(parse_fixed(field, s.to_str()?)?);
    }
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        let v: i128 = obj
            .extract()
            .map_err(|_| CoreError::invalid(field, format!("{obj} is out of range")))?;
        let q = Quantity::from_int(field, v)?;
        return Ok((q.raw(), 0));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Err(PyTypeError::new_err(format!(
            "{field}: a float is not exact; pass a Decimal, str or int, or call \
             from_float(value, precision) explicitly"
        )));
    }
    if obj.is_instance(decimal_type(obj.py())?)? {
        let s = obj.str()?;
        return Ok(parse_fixed(field, s.to_str()?)?);
    }
    // Integer-like objects (NumPy integers, ...) are exact too.
    if obj.hasattr(pyo3::intern!(obj.py(), "__index__"))? {
        let v: i128 = obj
            .call_method0(pyo3::intern!(obj.py(), "__index__"))?
            .extract()
            .map_err(|_| CoreError::invalid(field, format!("{obj} is out of range")))?;
        let q = Quantity::from_int(field, v)?;
        return Ok((q.raw(), 0));
    }
    Err(PyTypeError::new_err(format!(
        "{field}: expected Decimal, str or int, got {}",
        obj.get_type().name()?
    )))
}

/// A precision argument: 0..=9.
pub(crate) fn precision_arg(field: &'static str, p: i64) -> PyResult<u8> {
    u8::try_from(p)
        .ok()
        .filter(|p| *p <= FIXED_PRECISION)
        .ok_or_else(|| {
            CoreError::invalid(
                field,
                format!("{p} must be between 0 and {FIXED_PRECISION}"),
            )
            .into()
        })
}

/// A rounding argument: a `decimal` module constant such as `"ROUND_HALF_EVEN"`.
pub(crate) fn rounding_arg(s: &str) -> PyResult<RoundingMode> {
    RoundingMode::ALL
        .into_iter()
        .find(|m| m.decimal_name() == s)
        .ok_or_else(|| {
            CoreError::invalid(
                "rounding",
                format!("{s:?} is not a decimal rounding constant such as ROUND_HALF_EVEN"),
            )
            .into()
        })
}

/// Python's numeric hash of `raw` · 10^-9: `(|raw| · (10^9)^-1) mod (2^61 - 1)`, signed,
/// -1 mapped to -2 (the rule for every number type, `Decimal` included).
fn numeric_hash(raw: i64) -> isize {
    const P: u128 = (1 << 61) - 1;
    fn pow_mod(mut base: u128, mut exp: u128) -> u128 {
        let mut acc = 1;
        base %= P;
        while exp > 0 {
            if exp & 1 == 1 {
                acc = acc * base % P;
            }
            base = base * base % P;
            exp >>= 1;
        }
        acc
    }
    // P is prime: the inverse of 10^9 is (10^9)^(P-2).
    let inverse = pow_mod(1_000_000_000, P - 2);
    let magnitude = u128::from(raw.unsigned_abs()) % P * inverse % P;
    // < 2^61, so it fits an i64 (and isize on the 64-bit targets we build).
    let h = i64::try_from(magnitude).unwrap_or(0);
    let h = if raw < 0 { -h } else { h };
    isize::try_from(if h == -1 { -2 } else { h }).unwrap_or(0)
}

fn hash_of<T: Hash>(v: &T) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

fn declare_err(field: &'static str, text: &str, precision: u8) -> PyErr {
    CoreError::invalid(
        field,
        format!("{text} has more than {precision} decimal places; round it explicitly"),
    )
    .into()
}

/// The other operand of an arithmetic or comparison operator, classified once.
enum Operand<'a, 'py> {
    Price(Price),
    Quantity(Quantity),
    Money(Money),
    /// An `int` (not a `bool`) or an integer-like object (`__index__`, e.g. NumPy integers).
    Int(&'a Bound<'py, PyAny>),
    Decimal(&'a Bound<'py, PyAny>),
    Float,
    Other,
}

fn operand<'a, 'py>(obj: &'a Bound<'py, PyAny>) -> PyResult<Operand<'a, 'py>> {
    if let Ok(p) = obj.cast::<PyPrice>() {
        return Ok(Operand::Price(p.get().0));
    }
    if let Ok(q) = obj.cast::<PyQuantity>() {
        return Ok(Operand::Quantity(q.get().0));
    }
    if let Ok(m) = obj.cast::<PyMoney>() {
        return Ok(Operand::Money(m.get().0));
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(Operand::Other);
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(Operand::Int(obj));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Operand::Float);
    }
    if obj.is_instance(decimal_type(obj.py())?)? {
        return Ok(Operand::Decimal(obj));
    }
    if obj.hasattr(pyo3::intern!(obj.py(), "__index__"))? {
        return Ok(Operand::Int(obj));
    }
    Ok(Operand::Other)
}

/// An integer factor; beyond `i64` the product overflows whatever the value.
fn int_factor(obj: &Bound<'_, PyAny>, operation: &'static str) -> PyResult<i64> {
    let v = obj.call_method0(pyo3::intern!(obj.py(), "__index__"))?;
    Ok(v.extract::<i64>()
        .map_err(|_| CoreError::Overflow { operation })?)
}

/// A `Decimal` factor as `(raw, precision)`.
fn decimal_factor(obj: &Bound<'_, PyAny>) -> PyResult<(i64, u8)> {
    Ok(parse_fixed("factor", obj.str()?.to_str()?)?)
}

/// Floats never enter exact arithmetic silently.
fn float_operand_error(class: &str, op: &str, reflected: bool) -> PyErr {
    let (a, b) = if reflected {
        ("float", class)
    } else {
        (class, "float")
    };
    PyTypeError::new_err(format!(
        "unsupported operand type(s) for {op}: '{a}' and '{b}': a float is not exact; \
         convert it explicitly with {class}.from_float(...) or use a Decimal"
    ))
}

/// The reflected `+`/`-` (`x + value`): the left operand was not of the same class, so
/// nothing applies; a float gets the explicit message.
fn refuse_reflected(class: &str, op: &str, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    if other.is_instance_of::<PyFloat>() {
        return Err(float_operand_error(class, op, true));
    }
    Ok(other.py().NotImplemented())
}

fn into_py<T: pyo3::PyClass + Into<pyo3::PyClassInitializer<T>>>(
    py: Python<'_>,
    value: T,
) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, value)?.into_any())
}

/// Products of a price and a quantity are money in this currency: `Price` and `Quantity`
/// carry none. `Money.from_product` and `Instrument.notional` take an explicit one.
const PRODUCT_CURRENCY: &str = "USD";

fn money_product(price: Price, quantity: Quantity) -> PyResult<Money> {
    Money::exact_product(price, quantity, Currency::new(PRODUCT_CURRENCY)?).map_err(|e| match e {
        CoreError::InvalidInput { field, message } => CoreError::invalid(
            field,
            format!("{message} with Money.from_product(price, quantity, currency, precision)"),
        )
        .into(),
        other => other.into(),
    })
}

/// `Price × Quantity` (either order) is `Money`; other pairs of value classes do not multiply.
fn cross_product(a: &Operand<'_, '_>, b: &Operand<'_, '_>) -> Option<PyResult<Money>> {
    match (a, b) {
        (Operand::Price(p), Operand::Quantity(q)) | (Operand::Quantity(q), Operand::Price(p)) => {
            Some(money_product(*p, *q))
        }
        _ => None,
    }
}

macro_rules! py_fixed {
    ($py:ident, $core:ident, $variant:ident, $name:literal, $field:literal) => {
        #[doc = concat!("An exact ", $field, " (fixed-point, 9 decimal places at most).")]
        #[pyclass(frozen, name = $name, module = "pi5trading._core")]
        #[derive(Debug, Clone, Copy)]
        pub(crate) struct $py(pub(crate) $core);

        impl $py {
            pub(crate) fn from_py(field: &'static str, obj: &Bound<'_, PyAny>) -> PyResult<$core> {
                if let Ok(v) = obj.cast::<$py>() {
                    return Ok(v.get().0);
                }
                let (raw, precision) = fixed_from_py(field, obj)?;
                Ok($core::from_raw(raw, precision)?)
            }

            /// `self × factor` for an `int` or `Decimal` factor; `NotImplemented` otherwise.
            fn scaled(
                &self,
                py: Python<'_>,
                factor: Operand<'_, '_>,
                reflected: bool,
            ) -> PyResult<Py<PyAny>> {
                match factor {
                    Operand::Int(f) => {
                        let f = int_factor(f, concat!($name, "::mul"))?;
                        into_py(py, Self(self.0.checked_mul_int(f)?))
                    }
                    Operand::Decimal(f) => {
                        into_py(py, Self(self.0.checked_mul_decimal(decimal_factor(f)?)?))
                    }
                    Operand::Float => Err(float_operand_error($name, "*", reflected)),
                    _ => Ok(py.NotImplemented()),
                }
            }
        }

        #[pymethods]
        impl $py {
            #[new]
            #[pyo3(signature = (value, precision = None))]
            fn py_new(value: &Bound<'_, PyAny>, precision: Option<i64>) -> PyResult<Self> {
                let v = Self::from_py($field, value)?;
                match precision {
                    None => Ok(Self(v)),
                    Some(p) => {
                        let p = precision_arg("precision", p)?;
                        v.with_precision(p)
                            .map(Self)
                            .map_err(|_| declare_err($field, &v.to_string(), p))
                    }
                }
            }

            /// From raw units of 10^-9.
            #[staticmethod]
            fn from_raw(raw: i64, precision: i64) -> PyResult<Self> {
                Ok(Self($core::from_raw(
                    raw,
                    precision_arg("precision", precision)?,
                )?))
            }

            /// A float rounded half-even (on its exact binary value) to `precision` places.
            #[staticmethod]
            fn from_float(value: f64, precision: i64) -> PyResult<Self> {
                Ok(Self($core::from_f64(
                    $field,
                    value,
                    precision_arg("precision", precision)?,
                )?))
            }

            #[getter]
            fn raw(&self) -> i64 {
                self.0.raw()
            }

            #[getter]
            fn precision(&self) -> u8 {
                self.0.precision()
            }

            fn as_decimal<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                to_decimal(py, &self.0.to_string())
            }

            fn as_float(&self) -> f64 {
                self.0.as_f64()
            }

            #[pyo3(signature = (precision, rounding = "ROUND_HALF_EVEN"))]
            fn round(&self, precision: i64, rounding: &str) -> PyResult<Self> {
                let p = precision_arg("precision", precision)?;
                Ok(Self(self.0.round_dp(p, rounding_arg(rounding)?)?))
            }

            #[pyo3(signature = (increment, rounding = "ROUND_HALF_EVEN"))]
            fn round_to(&self, increment: PyRef<'_, Self>, rounding: &str) -> PyResult<Self> {
                Ok(Self(self.0.round_to_increment(
                    increment.0,
                    rounding_arg(rounding)?,
                )?))
            }

            fn is_multiple_of(&self, increment: PyRef<'_, Self>) -> bool {
                self.0.is_multiple_of(increment.0)
            }

            fn __add__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                let py = other.py();
                match operand(other)? {
                    Operand::$variant(o) => into_py(py, Self(self.0.checked_add(o)?)),
                    Operand::Float => Err(float_operand_error($name, "+", false)),
                    _ => Ok(py.NotImplemented()),
                }
            }

            fn __radd__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                refuse_reflected($name, "+", other)
            }

            fn __sub__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                let py = other.py();
                match operand(other)? {
                    Operand::$variant(o) => into_py(py, Self(self.0.checked_sub(o)?)),
                    Operand::Float => Err(float_operand_error($name, "-", false)),
                    _ => Ok(py.NotImplemented()),
                }
            }

            fn __rsub__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                refuse_reflected($name, "-", other)
            }

            /// Scaling by an `int` or `Decimal` (exact), and `Price × Quantity = Money`.
            fn __mul__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                let o = operand(other)?;
                if let Some(m) = cross_product(&Operand::$variant(self.0), &o) {
                    return into_py(other.py(), PyMoney(m?));
                }
                self.scaled(other.py(), o, false)
            }

            fn __rmul__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                self.scaled(other.py(), operand(other)?, true)
            }

            fn __neg__(&self) -> PyResult<Self> {
                Ok(Self(self.0.checked_neg()?))
            }

            fn __pos__(&self) -> Self {
                *self
            }

            fn __abs__(&self) -> PyResult<Self> {
                Ok(Self(self.0.checked_abs()?))
            }

            fn __bool__(&self) -> bool {
                !self.0.is_zero()
            }

            /// Only values of the same class compare; `==` with anything else is `False`.
            fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
                let py = other.py();
                match operand(other)? {
                    Operand::$variant(o) => Ok(PyBool::new(py, op.matches(self.0.cmp(&o)))
                        .to_owned()
                        .into_any()
                        .unbind()),
                    // `bar.close > 0`, `price <= Decimal("1.5")`: exact, as the Decimal of
                    // this value compared with the number (any size, any decimals).
                    Operand::Int(o) | Operand::Decimal(o) => {
                        Ok(to_decimal(py, &self.0.to_string())?
                            .rich_compare(o, op)?
                            .unbind())
                    }
                    Operand::Float if !matches!(op, CompareOp::Eq | CompareOp::Ne) => {
                        Err(float_operand_error($name, "comparison", false))
                    }
                    _ => Ok(py.NotImplemented()),
                }
            }

            /// Python's hash of the number (as `hash(Decimal(str(self)))`): a value that
            /// equals an `int` or a `Decimal` hashes like it.
            fn __hash__(&self) -> isize {
                numeric_hash(self.0.raw())
            }

            fn __str__(&self) -> String {
                self.0.to_string()
            }

            /// Format specs as for `Decimal` (`f"{price:>12,.2f}"`), applied to the exact value.
            fn __format__<'py>(&self, py: Python<'py>, spec: &str) -> PyResult<Bound<'py, PyAny>> {
                to_decimal(py, &self.0.to_string())?.call_method1("__format__", (spec,))
            }

            fn __repr__(&self) -> String {
                format!(concat!($name, "('{}')"), self.0)
            }

            fn __reduce__<'py>(
                slf: &Bound<'py, Self>,
            ) -> PyResult<(Bound<'py, PyType>, (String,))> {
                Ok((slf.get_type(), (slf.get().0.to_string(),)))
            }
        }
    };
}

py_fixed!(PyPrice, Price, Price, "Price", "price");
py_fixed!(PyQuantity, Quantity, Quantity, "Quantity", "quantity");

fn currency_arg(code: &str) -> PyResult<Currency> {
    Ok(Currency::new(code)?)
}

/// An exact amount of money in one currency.
#[pyclass(frozen, name = "Money", module = "pi5trading._core")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct PyMoney(pub(crate) Money);

impl PyMoney {
    /// `self × factor` for an `int` or `Decimal` factor; `NotImplemented` otherwise.
    fn scaled(&self, other: &Bound<'_, PyAny>, reflected: bool) -> PyResult<Py<PyAny>> {
        let py = other.py();
        match operand(other)? {
            Operand::Int(f) => {
                let f = int_factor(f, "Money::mul")?;
                into_py(py, Self(self.0.checked_mul_int(f)?))
            }
            Operand::Decimal(f) => {
                into_py(py, Self(self.0.checked_mul_decimal(decimal_factor(f)?)?))
            }
            Operand::Float => Err(float_operand_error("Money", "*", reflected)),
            _ => Ok(py.NotImplemented()),
        }
    }
}

#[pymethods]
impl PyMoney {
    #[new]
    #[pyo3(signature = (value, currency, precision = None))]
    fn py_new(value: &Bound<'_, PyAny>, currency: &str, precision: Option<i64>) -> PyResult<Self> {
        let currency = currency_arg(currency)?;
        let (raw, p) = if let Ok(m) = value.cast::<PyMoney>() {
            (m.get().0.raw(), m.get().0.precision())
        } else {
            fixed_from_py("money", value)?
        };
        let p = match precision {
            None => p,
            Some(want) => {
                let want = precision_arg("precision", want)?;
                if raw % crate::types::fixed::POW10[usize::from(FIXED_PRECISION - want)] != 0 {
                    return Err(declare_err(
                        "money",
                        &crate::types::format_fixed(raw, p),
                        want,
                    ));
                }
                want
            }
        };
        Ok(Self(Money::from_raw(raw, p, currency)?))
    }

    /// From raw units of 10^-9.
    #[staticmethod]
    fn from_raw(raw: i64, precision: i64, currency: &str) -> PyResult<Self> {
        let p = precision_arg("precision", precision)?;
        Ok(Self(Money::from_raw(raw, p, currency_arg(currency)?)?))
    }

    /// A float rounded half-even to `precision` places (default: the currency's).
    #[staticmethod]
    #[pyo3(signature = (value, currency, precision = None))]
    fn from_float(value: f64, currency: &str, precision: Option<i64>) -> PyResult<Self> {
        let c = currency_arg(currency)?;
        let p = match precision {
            Some(p) => precision_arg("precision", p)?,
            None => c.default_precision(),
        };
        Ok(Self(Money::from_f64(value, p, c)?))
    }

    /// `price * quantity`, exact, rounded once to `precision` (default: the currency's).
    #[staticmethod]
    #[pyo3(signature = (price, quantity, currency, precision = None, rounding = "ROUND_HALF_EVEN"))]
    fn from_product(
        price: PyRef<'_, PyPrice>,
        quantity: PyRef<'_, PyQuantity>,
        currency: &str,
        precision: Option<i64>,
        rounding: &str,
    ) -> PyResult<Self> {
        let c = currency_arg(currency)?;
        let p = match precision {
            Some(p) => precision_arg("precision", p)?,
            None => c.default_precision(),
        };
        Ok(Self(Money::from_product(
            price.0,
            quantity.0,
            c,
            p,
            rounding_arg(rounding)?,
        )?))
    }

    #[getter]
    fn raw(&self) -> i64 {
        self.0.raw()
    }

    #[getter]
    fn precision(&self) -> u8 {
        self.0.precision()
    }

    #[getter]
    fn currency(&self) -> String {
        self.0.currency().code().to_string()
    }

    fn as_decimal<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_decimal(
            py,
            &crate::types::format_fixed(self.0.raw(), self.0.precision()),
        )
    }

    fn as_float(&self) -> f64 {
        self.0.as_f64()
    }

    #[pyo3(signature = (precision, rounding = "ROUND_HALF_EVEN"))]
    fn round(&self, precision: i64, rounding: &str) -> PyResult<Self> {
        let p = precision_arg("precision", precision)?;
        Ok(Self(self.0.round_dp(p, rounding_arg(rounding)?)?))
    }

    fn __add__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = other.py();
        match operand(other)? {
            Operand::Money(o) => into_py(py, Self(self.0.checked_add(o)?)),
            Operand::Float => Err(float_operand_error("Money", "+", false)),
            _ => Ok(py.NotImplemented()),
        }
    }

    fn __radd__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        refuse_reflected("Money", "+", other)
    }

    fn __sub__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = other.py();
        match operand(other)? {
            Operand::Money(o) => into_py(py, Self(self.0.checked_sub(o)?)),
            Operand::Float => Err(float_operand_error("Money", "-", false)),
            _ => Ok(py.NotImplemented()),
        }
    }

    fn __rsub__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        refuse_reflected("Money", "-", other)
    }

    /// Scaling by an `int` or `Decimal` (exact); nothing else multiplies money.
    fn __mul__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.scaled(other, false)
    }

    fn __rmul__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.scaled(other, true)
    }

    fn __neg__(&self) -> PyResult<Self> {
        Ok(Self(self.0.checked_neg()?))
    }

    fn __pos__(&self) -> Self {
        *self
    }

    fn __abs__(&self) -> PyResult<Self> {
        Ok(Self(self.0.checked_abs()?))
    }

    fn __bool__(&self) -> bool {
        self.0.raw() != 0
    }

    /// Same currency: by value. Across currencies `==` is `False` and ordering raises.
    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let py = other.py();
        let result = match operand(other)? {
            Operand::Money(o) => match op {
                CompareOp::Eq => self.0 == o,
                CompareOp::Ne => self.0 != o,
                _ => op.matches(self.0.try_cmp(o)?),
            },
            Operand::Float if !matches!(op, CompareOp::Eq | CompareOp::Ne) => {
                return Err(float_operand_error("Money", "comparison", false));
            }
            _ => return Ok(py.NotImplemented()),
        };
        Ok(PyBool::new(py, result).to_owned().into_any().unbind())
    }

    fn __hash__(&self) -> u64 {
        hash_of(&self.0)
    }

    fn __str__(&self) -> String {
        self.0.to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "Money('{}', '{}')",
            crate::types::format_fixed(self.0.raw(), self.0.precision()),
            self.0.currency()
        )
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyType>, (String, String))> {
        let m = slf.get().0;
        Ok((
            slf.get_type(),
            (
                crate::types::format_fixed(m.raw(), m.precision()),
                m.currency().code().to_string(),
            ),
        ))
    }
}

fn asset_class_arg(s: &str) -> PyResult<AssetClass> {
    Ok(s.parse()?)
}

/// A tradable instrument: symbol, venue, asset class, currency, tick and lot sizes.
#[pyclass(frozen, name = "Instrument", module = "pi5trading._core")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct PyInstrument(pub(crate) Instrument);

#[pymethods]
impl PyInstrument {
    #[new]
    #[pyo3(signature = (
        symbol, venue, asset_class, currency, tick_size, lot_size,
        min_quantity = None, price_precision = None, size_precision = None, calendar = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        symbol: &str,
        venue: &str,
        asset_class: &str,
        currency: &str,
        tick_size: &Bound<'_, PyAny>,
        lot_size: &Bound<'_, PyAny>,
        min_quantity: Option<&Bound<'_, PyAny>>,
        price_precision: Option<i64>,
        size_precision: Option<i64>,
        calendar: Option<&str>,
    ) -> PyResult<Self> {
        let lot = PyQuantity::from_py("lot_size", lot_size)?;
        let min_q = match min_quantity {
            Some(m) => PyQuantity::from_py("min_quantity", m)?,
            None => lot,
        };
        let instrument = Instrument::new(
            Symbol::new("symbol", symbol)?,
            Venue::new("venue", venue)?,
            asset_class_arg(asset_class)?,
            currency_arg(currency)?,
            PyPrice::from_py("tick_size", tick_size)?,
            lot,
            min_q,
            price_precision
                .map(|p| precision_arg("price_precision", p))
                .transpose()?,
            size_precision
                .map(|p| precision_arg("size_precision", p))
                .transpose()?,
        )?;
        Ok(Self(match calendar {
            Some(c) => instrument.with_calendar(c.parse()?),
            None => instrument,
        }))
    }

    #[getter]
    fn symbol(&self) -> &str {
        self.0.symbol.as_str()
    }
    #[getter]
    fn venue(&self) -> &str {
        self.0.venue.as_str()
    }
    #[getter]
    fn asset_class(&self) -> &'static str {
        self.0.asset_class.name()
    }
    #[getter]
    fn currency(&self) -> &str {
        self.0.currency.code()
    }
    #[getter]
    fn tick_size(&self) -> PyPrice {
        PyPrice(self.0.tick_size)
    }
    #[getter]
    fn lot_size(&self) -> PyQuantity {
        PyQuantity(self.0.lot_size)
    }
    #[getter]
    fn min_quantity(&self) -> PyQuantity {
        PyQuantity(self.0.min_quantity)
    }
    #[getter]
    fn price_precision(&self) -> u8 {
        self.0.price_precision
    }
    #[getter]
    fn size_precision(&self) -> u8 {
        self.0.size_precision
    }
    /// `"session"` (the risk session's trading hours apply) or `"24/7"`.
    #[getter]
    fn calendar(&self) -> &'static str {
        self.0.calendar.name()
    }

    /// A price on this instrument's tick, declared with its price precision.
    fn make_price(&self, value: &Bound<'_, PyAny>) -> PyResult<PyPrice> {
        let p = PyPrice::from_py("price", value)?;
        Ok(PyPrice(self.0.conform_price("price", p)?))
    }

    /// A quantity on this instrument's lot, declared with its size precision.
    fn make_quantity(&self, value: &Bound<'_, PyAny>) -> PyResult<PyQuantity> {
        let q = PyQuantity::from_py("quantity", value)?;
        Ok(PyQuantity(self.0.conform_quantity("quantity", q)?))
    }

    #[pyo3(signature = (price, rounding = "ROUND_HALF_EVEN"))]
    fn round_price(&self, price: &Bound<'_, PyAny>, rounding: &str) -> PyResult<PyPrice> {
        let p = PyPrice::from_py("price", price)?;
        Ok(PyPrice(self.0.round_price(p, rounding_arg(rounding)?)?))
    }

    #[pyo3(signature = (quantity, rounding = "ROUND_HALF_EVEN"))]
    fn round_quantity(&self, quantity: &Bound<'_, PyAny>, rounding: &str) -> PyResult<PyQuantity> {
        let q = PyQuantity::from_py("quantity", quantity)?;
        Ok(PyQuantity(
            self.0.round_quantity(q, rounding_arg(rounding)?)?,
        ))
    }

    #[pyo3(signature = (price, quantity, rounding = "ROUND_HALF_EVEN"))]
    fn notional(
        &self,
        price: &Bound<'_, PyAny>,
        quantity: &Bound<'_, PyAny>,
        rounding: &str,
    ) -> PyResult<PyMoney> {
        let p = PyPrice::from_py("price", price)?;
        let q = PyQuantity::from_py("quantity", quantity)?;
        Ok(PyMoney(self.0.notional(p, q, rounding_arg(rounding)?)?))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Self>().is_ok_and(|o| o.get().0 == self.0)
    }

    fn __hash__(&self) -> u64 {
        hash_of(&self.0)
    }

    fn __repr__(&self) -> String {
        let i = &self.0;
        format!(
            "Instrument(symbol='{}', venue='{}', asset_class='{}', currency='{}', \
             tick_size='{}', lot_size='{}', min_quantity='{}', calendar='{}')",
            i.symbol,
            i.venue,
            i.asset_class,
            i.currency,
            i.tick_size,
            i.lot_size,
            i.min_quantity,
            i.calendar
        )
    }

    #[allow(clippy::type_complexity)]
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> (
        Bound<'py, PyType>,
        (
            String,
            String,
            &'static str,
            String,
            String,
            String,
            String,
            u8,
            u8,
            &'static str,
        ),
    ) {
        let i = slf.get().0;
        (
            slf.get_type(),
            (
                i.symbol.to_string(),
                i.venue.to_string(),
                i.asset_class.name(),
                i.currency.to_string(),
                i.tick_size.to_string(),
                i.lot_size.to_string(),
                i.min_quantity.to_string(),
                i.price_precision,
                i.size_precision,
                i.calendar.name(),
            ),
        )
    }
}

/// What a bar aggregates: a symbol and an interval (`1m`, `5m`, `1h`, `1d`, ...).
#[pyclass(frozen, name = "BarType", module = "pi5trading._core")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct PyBarType(pub(crate) BarType);

#[pymethods]
impl PyBarType {
    #[new]
    fn py_new(symbol: &str, interval: &str) -> PyResult<Self> {
        let interval: Interval = interval.parse()?;
        Ok(Self(BarType::new(Symbol::new("symbol", symbol)?, interval)))
    }

    /// Parses `SYMBOL-INTERVAL`, e.g. `AAPL-1m`.
    #[staticmethod]
    fn parse(text: &str) -> PyResult<Self> {
        Ok(Self(text.parse()?))
    }

    #[getter]
    fn symbol(&self) -> &str {
        self.0.symbol.as_str()
    }
    #[getter]
    fn interval(&self) -> String {
        self.0.interval.to_string()
    }
    #[getter]
    fn interval_ns(&self) -> u64 {
        self.0.interval.as_nanos()
    }
    /// The bus topic of these bars, `data.bars.<symbol>.<interval>`.
    #[getter]
    fn topic(&self) -> String {
        self.0.topic()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Self>().is_ok_and(|o| o.get().0 == self.0)
    }
    fn __hash__(&self) -> u64 {
        hash_of(&self.0)
    }
    fn __str__(&self) -> String {
        self.0.to_string()
    }
    fn __repr__(&self) -> String {
        format!("BarType('{}', '{}')", self.0.symbol, self.0.interval)
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> (Bound<'py, PyType>, (String, String)) {
        let b = slf.get().0;
        (
            slf.get_type(),
            (b.symbol.to_string(), b.interval.to_string()),
        )
    }
}

fn bar_type_arg(obj: &Bound<'_, PyAny>) -> PyResult<BarType> {
    if let Ok(b) = obj.cast::<PyBarType>() {
        return Ok(b.get().0);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_str()?.parse()?);
    }
    Err(PyTypeError::new_err("bar_type: expected BarType or str"))
}

/// A nanosecond count (timestamp or duration) given for `field`: 0 ..= 2^64 - 1.
pub(crate) fn nanos_arg(field: &'static str, v: i128) -> PyResult<u64> {
    u64::try_from(v).map_err(|_| {
        CoreError::invalid(field, format!("{v} must be between 0 and {}", u64::MAX)).into()
    })
}

fn ts_arg(ts: i128) -> PyResult<UnixNanos> {
    nanos_arg("ts_event", ts).map(UnixNanos)
}

/// An OHLCV bar; `ts_event` is its close time in UTC nanoseconds.
///
/// Not `frozen` for one reason: a backtest hands a strategy's `on_bar` the same `Bar`
/// object bar after bar, its values overwritten, while nothing but the engine holds it
/// (`BarCall` in engine.rs). Python has no setter: a bar never changes under code that
/// holds it.
#[pyclass(name = "Bar", module = "pi5trading._core")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct PyBar(pub(crate) Bar);

#[pymethods]
impl PyBar {
    #[new]
    #[pyo3(signature = (bar_type, open, high, low, close, volume, ts_event, *, instrument = None))]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        bar_type: &Bound<'_, PyAny>,
        open: &Bound<'_, PyAny>,
        high: &Bound<'_, PyAny>,
        low: &Bound<'_, PyAny>,
        close: &Bound<'_, PyAny>,
        volume: &Bound<'_, PyAny>,
        ts_event: i128,
        instrument: Option<PyRef<'_, PyInstrument>>,
    ) -> PyResult<Self> {
        let bar = Bar::new(
            bar_type_arg(bar_type)?,
            PyPrice::from_py("open", open)?,
            PyPrice::from_py("high", high)?,
            PyPrice::from_py("low", low)?,
            PyPrice::from_py("close", close)?,
            PyQuantity::from_py("volume", volume)?,
            ts_arg(ts_event)?,
        )?;
        if let Some(i) = instrument {
            bar.check_instrument(&i.0)?;
        }
        Ok(Self(bar))
    }

    #[getter]
    fn bar_type(&self) -> PyBarType {
        PyBarType(self.0.bar_type)
    }
    /// The instrument's symbol (``bar.bar_type.symbol`` without the intermediate object).
    #[getter]
    fn symbol(&self) -> &str {
        self.0.bar_type.symbol.as_str()
    }
    /// The bus topic of this bar, `data.bars.<symbol>.<interval>` (``bar_type.topic``).
    #[getter]
    fn topic(&self) -> String {
        self.0.bar_type.topic()
    }
    /// The close as a float, for fast comparisons in callbacks (``close`` is exact).
    #[getter]
    fn close_f(&self) -> f64 {
        self.0.close.as_f64()
    }
    #[getter]
    fn open(&self) -> PyPrice {
        PyPrice(self.0.open)
    }
    #[getter]
    fn high(&self) -> PyPrice {
        PyPrice(self.0.high)
    }
    #[getter]
    fn low(&self) -> PyPrice {
        PyPrice(self.0.low)
    }
    #[getter]
    fn close(&self) -> PyPrice {
        PyPrice(self.0.close)
    }
    #[getter]
    fn volume(&self) -> PyQuantity {
        PyQuantity(self.0.volume)
    }
    #[getter]
    fn ts_event(&self) -> u64 {
        self.0.ts_event.0
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        // `try_borrow` never fails here: nothing borrows a bar mutably while Python runs.
        other
            .cast::<Self>()
            .is_ok_and(|o| o.try_borrow().is_ok_and(|o| o.0 == self.0))
    }
    fn __hash__(&self) -> u64 {
        hash_of(&self.0)
    }
    fn __repr__(&self) -> String {
        let b = &self.0;
        format!(
            "Bar('{}', open='{}', high='{}', low='{}', close='{}', volume='{}', ts_event={})",
            b.bar_type, b.open, b.high, b.low, b.close, b.volume, b.ts_event
        )
    }

    #[allow(clippy::type_complexity)]
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> (
        Bound<'py, PyType>,
        (String, String, String, String, String, String, u64),
    ) {
        let b = slf.borrow().0;
        (
            slf.get_type(),
            (
                b.bar_type.to_string(),
                b.open.to_string(),
                b.high.to_string(),
                b.low.to_string(),
                b.close.to_string(),
                b.volume.to_string(),
                b.ts_event.0,
            ),
        )
    }
}

/// Best bid and ask with sizes.
#[pyclass(frozen, name = "QuoteTick", module = "pi5trading._core")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct PyQuoteTick(pub(crate) QuoteTick);

#[pymethods]
impl PyQuoteTick {
    #[new]
    #[pyo3(signature = (symbol, bid, ask, bid_size, ask_size, ts_event, *, instrument = None))]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        symbol: &str,
        bid: &Bound<'_, PyAny>,
        ask: &Bound<'_, PyAny>,
        bid_size: &Bound<'_, PyAny>,
        ask_size: &Bound<'_, PyAny>,
        ts_event: i128,
        instrument: Option<PyRef<'_, PyInstrument>>,
    ) -> PyResult<Self> {
        let q = QuoteTick::new(
            Symbol::new("symbol", symbol)?,
            PyPrice::from_py("bid", bid)?,
            PyPrice::from_py("ask", ask)?,
            PyQuantity::from_py("bid_size", bid_size)?,
            PyQuantity::from_py("ask_size", ask_size)?,
            ts_arg(ts_event)?,
        )?;
        if let Some(i) = instrument {
            q.check_instrument(&i.0)?;
        }
        Ok(Self(q))
    }

    #[getter]
    fn symbol(&self) -> &str {
        self.0.symbol.as_str()
    }
    #[getter]
    fn bid(&self) -> PyPrice {
        PyPrice(self.0.bid)
    }
    #[getter]
    fn ask(&self) -> PyPrice {
        PyPrice(self.0.ask)
    }
    #[getter]
    fn bid_size(&self) -> PyQuantity {
        PyQuantity(self.0.bid_size)
    }
    #[getter]
    fn ask_size(&self) -> PyQuantity {
        PyQuantity(self.0.ask_size)
    }
    #[getter]
    fn ts_event(&self) -> u64 {
        self.0.ts_event.0
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Self>().is_ok_and(|o| o.get().0 == self.0)
    }
    fn __hash__(&self) -> u64 {
        hash_of(&self.0)
    }
    fn __repr__(&self) -> String {
        let q = &self.0;
        format!(
            "QuoteTick('{}', bid='{}', ask='{}', bid_size='{}', ask_size='{}', ts_event={})",
            q.symbol, q.bid, q.ask, q.bid_size, q.ask_size, q.ts_event
        )
    }

    #[allow(clippy::type_complexity)]
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> (
        Bound<'py, PyType>,
        (String, String, String, String, String, u64),
    ) {
        let q = slf.get().0;
        (
            slf.get_type(),
            (
                q.symbol.to_string(),
                q.bid.to_string(),
                q.ask.to_string(),
                q.bid_size.to_string(),
                q.ask_size.to_string(),
                q.ts_event.0,
            ),
        )
    }
}

fn aggressor_arg(s: &str) -> PyResult<AggressorSide> {
    match s {
        "BUYER" => Ok(AggressorSide::Buyer),
        "SELLER" => Ok(AggressorSide::Seller),
        "NO_AGGRESSOR" => Ok(AggressorSide::NoAggressor),
        _ => Err(CoreError::invalid(
            "aggressor_side",
            format!("{s:?} is not one of BUYER, SELLER, NO_AGGRESSOR"),
        )
        .into()),
    }
}

/// A trade printed by a venue.
#[pyclass(frozen, name = "TradeTick", module = "pi5trading._core")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct PyTradeTick(pub(crate) TradeTick);

#[pymethods]
impl PyTradeTick {
    #[new]
    #[pyo3(signature = (symbol, price, size, aggressor_side, trade_id, ts_event, *, instrument = None))]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        symbol: &str,
        price: &Bound<'_, PyAny>,
        size: &Bound<'_, PyAny>,
        aggressor_side: &str,
        trade_id: &str,
        ts_event: i128,
        instrument: Option<PyRef<'_, PyInstrument>>,
    ) -> PyResult<Self> {
        let t = TradeTick::new(
            Symbol::new("symbol", symbol)?,
            PyPrice::from_py("price", price)?,
            PyQuantity::from_py("size", size)?,
            aggressor_arg(aggressor_side)?,
            TradeId::new("trade_id", trade_id)?,
            ts_arg(ts_event)?,
        )?;
        if let Some(i) = instrument {
            t.check_instrument(&i.0)?;
        }
        Ok(Self(t))
    }

    #[getter]
    fn symbol(&self) -> &str {
        self.0.symbol.as_str()
    }
    #[getter]
    fn price(&self) -> PyPrice {
        PyPrice(self.0.price)
    }
    #[getter]
    fn size(&self) -> PyQuantity {
        PyQuantity(self.0.size)
    }
    #[getter]
    fn aggressor_side(&self) -> &'static str {
        self.0.aggressor_side.name()
    }
    #[getter]
    fn trade_id(&self) -> &str {
        self.0.trade_id.as_str()
    }
    #[getter]
    fn ts_event(&self) -> u64 {
        self.0.ts_event.0
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Self>().is_ok_and(|o| o.get().0 == self.0)
    }
    fn __hash__(&self) -> u64 {
        hash_of(&self.0)
    }
    fn __repr__(&self) -> String {
        let t = &self.0;
        format!(
            "TradeTick('{}', price='{}', size='{}', aggressor_side='{}', trade_id='{}', \
             ts_event={})",
            t.symbol,
            t.price,
            t.size,
            t.aggressor_side.name(),
            t.trade_id,
            t.ts_event
        )
    }

    #[allow(clippy::type_complexity)]
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> (
        Bound<'py, PyType>,
        (String, String, String, &'static str, String, u64),
    ) {
        let t = slf.get().0;
        (
            slf.get_type(),
            (
                t.symbol.to_string(),
                t.price.to_string(),
                t.size.to_string(),
                t.aggressor_side.name(),
                t.trade_id.to_string(),
                t.ts_event.0,
            ),
        )
    }
}

/// Registers the value and market data classes.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPrice>()?;
    m.add_class::<PyQuantity>()?;
    m.add_class::<PyMoney>()?;
    m.add_class::<PyInstrument>()?;
    m.add_class::<PyBarType>()?;
    m.add_class::<PyBar>()?;
    m.add_class::<PyQuoteTick>()?;
    m.add_class::<PyTradeTick>()?;
    Ok(())
}
