//! HCL2 `dynamic` blocks expanded as Nomad expands them, so the structural checks see the
//! groups and tasks Nomad will run rather than the template that writes them.
//!
//! hcl-rs parses `dynamic` blocks but does not expand them (it is an HCL extension), so this
//! does: each `dynamic "T"` becomes one block `T` per element of `for_each`, with `labels` and
//! the `content` evaluated under the iterator `T` (`T.key`, `T.value`). `var.*` resolves to the
//! variables' defaults, except `var.version`, which stays the reference Nomad fills in at run
//! time (the tests check that the image tag is that variable).

use hcl::eval::{Context, Evaluate};
use hcl::{Block, Body, Expression, Structure, Value};

/// `file` with every `dynamic` block expanded.
pub fn expand(file: Body) -> Body {
    let mut ctx = Context::new();
    ctx.declare_var("var", variable_defaults(&file));
    expand_body(&file, &ctx, false)
}

fn variable_defaults(file: &Body) -> Value {
    let mut defaults = hcl::Map::new();
    for block in file
        .blocks()
        .filter(|block| block.identifier() == "variable")
    {
        let name = block.labels()[0].as_str();
        let value = if name == "version" {
            Value::from("${var.version}")
        } else {
            block
                .body()
                .attributes()
                .find(|attribute| attribute.key() == "default")
                .map(|default| {
                    default
                        .expr()
                        .evaluate(&Context::new())
                        .unwrap_or_else(|error| panic!("variable {name}: {error}"))
                })
                .unwrap_or(Value::Null)
        };
        defaults.insert(name.to_owned(), value);
    }
    Value::Object(defaults)
}

/// Inside a dynamic block's content every attribute is evaluated; outside, attributes are kept
/// as written.
fn expand_body(body: &Body, ctx: &Context, inside: bool) -> Body {
    let mut out = Vec::new();
    for structure in body.iter() {
        match structure {
            Structure::Block(block) if block.identifier() == "dynamic" => {
                out.extend(expand_dynamic(block, ctx).into_iter().map(Structure::Block));
            }
            Structure::Block(block) => {
                let expanded = Block::builder(block.identifier())
                    .add_labels(block.labels().iter().cloned())
                    .add_structures(expand_body(block.body(), ctx, inside))
                    .build();
                out.push(Structure::Block(expanded));
            }
            Structure::Attribute(attribute) if inside => {
                let value = attribute
                    .expr()
                    .evaluate(ctx)
                    .unwrap_or_else(|error| panic!("{}: {error}", attribute.key()));
                out.push(Structure::Attribute(hcl::Attribute::new(
                    attribute.key(),
                    Expression::from(value),
                )));
            }
            Structure::Attribute(attribute) => out.push(Structure::Attribute(attribute.clone())),
        }
    }
    out.into_iter().collect()
}

fn expand_dynamic(block: &Block, ctx: &Context) -> Vec<Block> {
    let kind = block.labels()[0].as_str();
    let argument = |key: &str| {
        block
            .body()
            .attributes()
            .find(|attribute| attribute.key() == key)
            .map(|attribute| attribute.expr().evaluate(ctx))
    };
    let elements: Vec<(Value, Value)> = match argument("for_each") {
        Some(Ok(Value::Object(map))) => map.into_iter().map(|(k, v)| (Value::from(k), v)).collect(),
        Some(Ok(Value::Array(items))) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| (Value::from(index), item))
            .collect(),
        other => panic!("dynamic {kind:?}: for_each must be a map or list, got {other:?}"),
    };
    let content = block
        .body()
        .blocks()
        .find(|inner| inner.identifier() == "content")
        .unwrap_or_else(|| panic!("dynamic {kind:?} has no content block"));
    elements
        .into_iter()
        .map(|(key, value)| {
            let mut inner = ctx.clone();
            let mut iterator = hcl::Map::new();
            iterator.insert("key".to_owned(), key);
            iterator.insert("value".to_owned(), value);
            inner.declare_var(kind, Value::Object(iterator));
            let labels = match block
                .body()
                .attributes()
                .find(|attribute| attribute.key() == "labels")
                .map(|attribute| attribute.expr().evaluate(&inner))
            {
                Some(Ok(Value::Array(labels))) => labels
                    .into_iter()
                    .map(|label| match label {
                        Value::String(text) => text,
                        other => panic!("dynamic {kind:?}: label {other:?} is not a string"),
                    })
                    .collect(),
                None => Vec::new(),
                other => panic!("dynamic {kind:?}: labels must be a list, got {other:?}"),
            };
            Block::builder(kind)
                .add_labels(labels)
                .add_structures(expand_body(content.body(), &inner, true))
                .build()
        })
        .collect()
}

#[test]
fn a_dynamic_block_becomes_one_block_per_element() {
    let file: Body = hcl::parse(
        r#"
        variable "things" {
          default = { a = { n = 1 }, b = { n = 2 } }
        }
        variable "version" { default = "1.0" }
        job "j" {
          dynamic "group" {
            for_each = var.things
            labels   = [group.key]
            content {
              count = group.value.n
              image = "x/${group.key}:${var.version}"
            }
          }
        }
        "#,
    )
    .unwrap();
    let expanded = expand(file);
    let job = expanded.blocks().find(|b| b.identifier() == "job").unwrap();
    let groups: Vec<&Block> = job.body().blocks().collect();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[1].labels()[0].as_str(), "b");
    let count = groups[1]
        .body()
        .attributes()
        .find(|a| a.key() == "count")
        .unwrap();
    assert_eq!(count.expr(), &Expression::from(2));
    let image = groups[0]
        .body()
        .attributes()
        .find(|a| a.key() == "image")
        .unwrap();
    assert_eq!(image.expr(), &Expression::from("x/a:${var.version}"));
}
