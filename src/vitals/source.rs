//! The application's own report sources: named async closures returning a JSON object.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

/// What a source's closure returns, boxed: a JSON object or why there is none.
pub type SourceFuture = Pin<Box<dyn Future<Output = Result<Value, String>> + Send>>;

/// What a source may return: a JSON value, or a `Result` of one with a displayable error.
pub trait IntoFigures {
    /// The figures, or why there are none.
    fn into_figures(self) -> Result<Value, String>;
}

impl IntoFigures for Value {
    fn into_figures(self) -> Result<Value, String> {
        Ok(self)
    }
}

impl<E: fmt::Display> IntoFigures for Result<Value, E> {
    fn into_figures(self) -> Result<Value, String> {
        self.map_err(|error| error.to_string())
    }
}

type Make = dyn Fn() -> SourceFuture + Send + Sync;

/// One named source.
#[derive(Clone)]
pub(crate) struct NamedSource {
    pub(crate) name: String,
    /// Gathered only when a caller asks for it by name (`?include=<name>`).
    pub(crate) optional: bool,
    make: Arc<Make>,
}

impl fmt::Debug for NamedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedSource")
            .field("name", &self.name)
            .field("optional", &self.optional)
            .finish_non_exhaustive()
    }
}

impl NamedSource {
    pub(crate) fn new<F, Fut>(name: String, optional: bool, make: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoFigures,
    {
        let make = move || -> SourceFuture {
            let future = make();
            Box::pin(async move { future.await.into_figures() })
        };
        Self {
            name,
            optional,
            make: Arc::new(make),
        }
    }

    /// Runs the source once; anything but a JSON object is a failure.
    pub(crate) async fn run(&self) -> Result<Value, String> {
        match (self.make)().await? {
            object @ Value::Object(_) => Ok(object),
            other => Err(format!(
                "returned {} instead of a JSON object",
                kind(&other)
            )),
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
