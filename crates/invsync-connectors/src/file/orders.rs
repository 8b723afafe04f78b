//! Open orders files: the store's orders that are not posted to the accounting side yet
//! (product.md, "File connections": `orders = "orders.csv"`, header `order,sku,quantity`).

use super::Format;
use super::csv::{Source, Tokenizer, check_width, resolve_header};
use super::json::{JsonScalar, object_fields, parse_array, scalar, text_value, type_error};
use super::text::{ParseError, offset_in, parse_quantity};
use compact_str::CompactString;
use invsync_core::OrderLine;

/// Parses an orders file. `store` is the connection's name, recorded on every line.
pub(super) fn parse_orders(
    src: &[u8],
    format: Format,
    store: &str,
) -> Result<Vec<OrderLine>, ParseError> {
    match format {
        Format::Csv => parse_csv(src, store),
        Format::Json => parse_json(src, store),
    }
}

fn parse_csv(src: &[u8], store: &str) -> Result<Vec<OrderLine>, ParseError> {
    let source = Source::new(src);
    let mut tokens = Tokenizer::new(src);
    let mut cells = Vec::new();
    let (width, columns) = resolve_header(
        src,
        &mut tokens,
        &mut cells,
        ["order", "sku", "quantity"],
        [true, true, true],
    )?;
    // All three are required, so resolve_header has set them.
    let [order, sku, quantity] = columns.map(Option::unwrap_or_default);
    let mut lines = Vec::new();
    while tokens.next_row(&mut cells)?.is_some() {
        check_width(src, &cells, width)?;
        let quantity_cell = cells[quantity];
        let quantity_text = source.cell_str(quantity_cell, "quantity")?;
        lines.push(OrderLine {
            store: CompactString::from(store),
            order: CompactString::from(source.cell_str(cells[order], "order")?),
            sku: CompactString::from(source.cell_str(cells[sku], "sku")?),
            quantity: parse_quantity(quantity_text.trim_ascii())
                .map_err(|m| ParseError::new(quantity_cell.start, m))?,
        });
    }
    Ok(lines)
}

fn parse_json(src: &[u8], store: &str) -> Result<Vec<OrderLine>, ParseError> {
    let (text, elements) = parse_array(src, "order lines")?;
    let mut lines = Vec::with_capacity(elements.len());
    for element in elements {
        let offset = offset_in(text, element.get());
        let [order, sku, quantity] =
            object_fields(text, element, ["order", "sku", "quantity"], "order line")?;
        let required =
            |key: &str| ParseError::new(offset, format!("this order line has no {key:?}"));
        let order = text_value(text, order, "order")?.ok_or_else(|| required("order"))?;
        let sku = text_value(text, sku, "sku")?.ok_or_else(|| required("sku"))?;
        let quantity_at = quantity.map_or(offset, |q| offset_in(text, q.get()));
        let quantity = match scalar(text, quantity)? {
            JsonScalar::Missing => return Err(required("quantity")),
            JsonScalar::Number(literal) => parse_quantity(literal),
            JsonScalar::Text(value) => parse_quantity(value.trim_ascii()),
            JsonScalar::Other(found) => {
                return Err(type_error(
                    text,
                    quantity,
                    "quantity",
                    found,
                    "a whole number",
                ));
            }
        }
        .map_err(|m| ParseError::new(quantity_at, m))?;
        lines.push(OrderLine {
            store: CompactString::from(store),
            order: CompactString::from(order),
            sku: CompactString::from(sku),
            quantity,
        });
    }
    Ok(lines)
}
