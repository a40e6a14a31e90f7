//! Script replies read into typed values. A reply of another shape than its script
//! documents is a [`StoreError::UnexpectedReply`] naming the script: never a panic,
//! never a silent default.

use std::collections::HashMap;

use redis::Value;

use crate::StoreError;

/// The items of an array reply, taken in order.
pub(crate) struct Reply {
    script: &'static str,
    items: std::vec::IntoIter<Value>,
}

impl Reply {
    /// An array reply (nil reads as an empty array: Lua's empty table).
    pub fn new(script: &'static str, value: Value) -> Result<Self, StoreError> {
        match value {
            Value::Array(items) | Value::Set(items) => Ok(Self {
                script,
                items: items.into_iter(),
            }),
            Value::Nil => Ok(Self {
                script,
                items: Vec::new().into_iter(),
            }),
            other => Err(unexpected(script, format!("not an array: {other:?}"))),
        }
    }

    pub fn error(&self, reason: impl Into<String>) -> StoreError {
        unexpected(self.script, reason)
    }

    /// Items not read yet.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.len() == 0
    }

    fn next(&mut self, what: &str) -> Result<Value, StoreError> {
        self.items
            .next()
            .ok_or_else(|| unexpected(self.script, format!("{what} missing")))
    }

    /// A string (an integer reads as its digits).
    pub fn text(&mut self, what: &str) -> Result<String, StoreError> {
        let value = self.next(what)?;
        text(self.script, what, value)
    }

    /// An integer, or a string holding one.
    pub fn int(&mut self, what: &str) -> Result<i64, StoreError> {
        match self.next(what)? {
            Value::Int(n) => Ok(n),
            other => {
                let text = text(self.script, what, other)?;
                text.parse()
                    .map_err(|_| unexpected(self.script, format!("{what}: not an integer: {text}")))
            }
        }
    }

    /// A number as Lua's `tostring` writes it (`12`, `0.5`, `1e+15`), or an integer.
    pub fn number(&mut self, what: &str) -> Result<f64, StoreError> {
        match self.next(what)? {
            Value::Int(n) => Ok(n as f64),
            Value::Double(n) => Ok(n),
            other => {
                let text = text(self.script, what, other)?;
                text.parse()
                    .map_err(|_| unexpected(self.script, format!("{what}: not a number: {text}")))
            }
        }
    }

    /// A nested array.
    pub fn array(&mut self, what: &str) -> Result<Reply, StoreError> {
        let value = self.next(what)?;
        Reply::new(self.script, value)
    }

    /// The remaining items as field/value pairs (a flat HGETALL-style list), the
    /// values as they are (a message body is binary).
    pub fn binary_pairs(mut self) -> Result<HashMap<String, Vec<u8>>, StoreError> {
        if !self.len().is_multiple_of(2) {
            return Err(self.error("an odd number of field/value items"));
        }
        let mut pairs = HashMap::with_capacity(self.len() / 2);
        while !self.is_empty() {
            let field = self.text("field")?;
            let value = match self.next("value")? {
                Value::BulkString(bytes) => bytes,
                other => text(self.script, "value", other)?.into_bytes(),
            };
            pairs.insert(field, value);
        }
        Ok(pairs)
    }

    /// The remaining items as field/value pairs (a flat HGETALL-style list).
    pub fn pairs(mut self) -> Result<HashMap<String, String>, StoreError> {
        if !self.len().is_multiple_of(2) {
            return Err(self.error("an odd number of field/value items"));
        }
        let mut pairs = HashMap::with_capacity(self.len() / 2);
        while !self.is_empty() {
            let field = self.text("field")?;
            let value = self.text("value")?;
            pairs.insert(field, value);
        }
        Ok(pairs)
    }

    /// Fails unless every item has been read.
    pub fn end(self) -> Result<(), StoreError> {
        match self.len() {
            0 => Ok(()),
            n => Err(self.error(format!("{n} unexpected trailing items"))),
        }
    }
}

/// A reply that is one string (nil reads as `None`).
pub(crate) fn optional_text(
    script: &'static str,
    value: Value,
) -> Result<Option<String>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        other => text(script, "reply", other).map(Some),
    }
}

/// A reply that is one integer.
pub(crate) fn int(script: &'static str, value: Value) -> Result<i64, StoreError> {
    match value {
        Value::Int(n) => Ok(n),
        other => Err(unexpected(script, format!("not an integer: {other:?}"))),
    }
}

fn text(script: &'static str, what: &str, value: Value) -> Result<String, StoreError> {
    match value {
        Value::BulkString(bytes) => {
            String::from_utf8(bytes).map_err(|_| unexpected(script, format!("{what}: not UTF-8")))
        }
        Value::SimpleString(text) => Ok(text),
        Value::Int(n) => Ok(n.to_string()),
        Value::Okay => Ok("OK".into()),
        other => Err(unexpected(
            script,
            format!("{what}: not a string: {other:?}"),
        )),
    }
}

fn unexpected(script: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::UnexpectedReply {
        script,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn items_are_read_in_order_and_shapes_are_checked() {
        let value = Value::Array(vec![bulk("a"), Value::Int(2), bulk("1.5"), bulk("x")]);
        let mut reply = Reply::new("test", value).unwrap();
        assert_eq!(reply.text("a").unwrap(), "a");
        assert_eq!(reply.int("n").unwrap(), 2);
        assert_eq!(reply.number("f").unwrap(), 1.5);
        assert!(matches!(
            reply.int("x"),
            Err(StoreError::UnexpectedReply { script: "test", .. })
        ));
        assert!(matches!(
            reply.text("past the end"),
            Err(StoreError::UnexpectedReply { .. })
        ));
        assert!(Reply::new("test", Value::Int(1)).is_err());
        assert!(Reply::new("test", Value::Nil).unwrap().is_empty());
    }

    #[test]
    fn pairs_need_an_even_count() {
        let odd = Reply::new("test", Value::Array(vec![bulk("f")])).unwrap();
        assert!(odd.pairs().is_err());
        let even = Reply::new("test", Value::Array(vec![bulk("f"), bulk("v")])).unwrap();
        assert_eq!(even.pairs().unwrap()["f"], "v");
    }
}
