//! The renderer over a batch with every kind of column the formats treat differently.

use std::sync::Arc;

use arrow::array::{Array, Int64Array, LargeListArray, ListArray, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow::record_batch::RecordBatch;

use super::*;

fn batch() -> RecordBatch {
    let list = ListArray::from_iter_primitive::<Int64Type, _, _>([Some(vec![Some(1)]), None]);
    let large = LargeListArray::from_iter_primitive::<Int64Type, _, _>([
        Some(vec![Some(2), Some(3)]),
        None,
    ]);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt64, false),
        Field::new("flow_id", DataType::UInt64, true),
        Field::new("n", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("list", list.data_type().clone(), true),
        Field::new("large", large.data_type().clone(), true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(UInt64Array::from(vec![u64::MAX, 1])),
            Arc::new(UInt64Array::from(vec![Some(7), None])),
            Arc::new(Int64Array::from(vec![Some(5), None])),
            Arc::new(StringArray::from(vec![Some("a,b"), None])),
            Arc::new(list),
            Arc::new(large),
        ],
    )
    .unwrap()
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

#[test]
fn json_styles() {
    let b = batch();
    let api = text(json_lines(&b, JsonStyle::API).unwrap());
    assert_eq!(
        api,
        format!(
            "{{\"id\":\"{}\",\"flow_id\":\"7\",\"n\":5,\"name\":\"a,b\",\"list\":[1],\"large\":[2,3]}}\n\
             {{\"id\":\"1\",\"flow_id\":null,\"n\":null,\"name\":null,\"list\":null,\"large\":null}}\n",
            u64::MAX
        )
    );
    let cli = text(json_lines(&b, JsonStyle::CLI).unwrap());
    assert_eq!(
        cli,
        format!(
            "{{\"id\":{},\"flow_id\":7,\"n\":5,\"name\":\"a,b\",\"list\":[1],\"large\":[2,3]}}\n\
             {{\"id\":1}}\n",
            u64::MAX
        )
    );
    let report = json_rows(&b, JsonStyle::REPORT).unwrap();
    assert_eq!(report[0]["flow_id"], 7);
    assert!(report[1]["name"].is_null() && report[1].contains_key("name"));
}

#[test]
fn csv_keeps_flat_columns_and_always_has_a_header() {
    let b = batch();
    let mut csv = CsvEncoder::new(b.schema());
    let mut out = csv.batch(&b.slice(0, 0)).unwrap();
    out.extend(csv.batch(&b).unwrap());
    out.extend(csv.batch(&b.slice(1, 1)).unwrap());
    out.extend(csv.finish().unwrap());
    let max = u64::MAX;
    assert_eq!(
        text(out),
        format!("id,flow_id,n,name\n{max},7,5,\"a,b\"\n1,,,\n1,,,\n")
    );
    let mut empty = CsvEncoder::new(b.schema());
    assert_eq!(text(empty.finish().unwrap()), "id,flow_id,n,name\n");
    for t in [
        DataType::LargeList(Arc::new(Field::new("item", DataType::Int64, true))),
        DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Int64, true)), 2),
        DataType::Struct(Vec::<Field>::new().into()),
    ] {
        assert!(!is_flat(&t), "{t}");
    }
    assert!(is_flat(&DataType::Utf8));
}

#[test]
fn text_formats_for_the_cli() {
    let b = batch();
    let mut out = Vec::new();
    write_batches(
        &mut out,
        std::slice::from_ref(&b),
        TextFormat::Table,
        JsonStyle::CLI,
        Some(&["name", "missing", "n"]),
    )
    .unwrap();
    assert_eq!(
        text(out),
        "+------+---+\n| name | n |\n+------+---+\n| a,b  | 5 |\n|      |   |\n+------+---+\n"
    );
    let mut out = Vec::new();
    write_batches(&mut out, &[], TextFormat::Csv, JsonStyle::CLI, None).unwrap();
    assert!(out.is_empty());
    let mut out = Vec::new();
    write_batches(
        &mut out,
        &[b.clone(), b],
        TextFormat::Csv,
        JsonStyle::CLI,
        None,
    )
    .unwrap();
    assert_eq!(text(out).lines().count(), 5);
}
