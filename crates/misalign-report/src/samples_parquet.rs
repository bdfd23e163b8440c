//! `samples.parquet`: the rows and columns of `samples.csv`, typed (counts and verdicts as
//! integers, cost as a double, blanks as nulls) and with text as stored (a Parquet reader
//! runs no formulas). Streamed: rows are buffered one row group at a time.

use crate::samples::{samples_record, ConditionCache, Pricing, SAMPLES_CSV_COLUMNS};
use crate::ReportError;
use misalign_store::atomic::AtomicFile;
use misalign_store::Store;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use std::path::Path;
use std::sync::Arc;

/// Rows per row group: bounds what is held in memory.
const ROW_GROUP: usize = 16_384;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Double,
    Text,
}

/// The Parquet type of each samples.csv column.
fn kind(column: &str) -> Kind {
    match column {
        "run_id"
        | "sample"
        | "final_verdict"
        | "detector_verdict"
        | "judge_verdict"
        | "whistleblowing"
        | "escalation"
        | "input_tokens"
        | "output_tokens"
        | "reasoning_tokens"
        | "cache_write_tokens"
        | "cache_read_tokens"
        | "latency_ms"
        | "attempts"
        | "steps"
        | "harmful_step"
        | "leverage_read_first"
        | "variation" => Kind::Int,
        "cost_usd" => Kind::Double,
        _ => Kind::Text,
    }
}

fn schema() -> parquet::errors::Result<Type> {
    use parquet::basic::{LogicalType, Repetition, Type as Physical};
    let fields = SAMPLES_CSV_COLUMNS
        .iter()
        .map(|name| {
            let b = match kind(name) {
                Kind::Int => Type::primitive_type_builder(name, Physical::INT64),
                Kind::Double => Type::primitive_type_builder(name, Physical::DOUBLE),
                Kind::Text => Type::primitive_type_builder(name, Physical::BYTE_ARRAY)
                    .with_logical_type(Some(LogicalType::String)),
            };
            b.with_repetition(Repetition::OPTIONAL)
                .build()
                .map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Type::group_type_builder("samples")
        .with_fields(fields)
        .build()
}

/// Writes one row group from `columns` (each a column's cells, blank = null) and empties it.
fn write_group<W: std::io::Write + Send>(
    w: &mut SerializedFileWriter<W>,
    columns: &mut [Vec<String>],
) -> parquet::errors::Result<()> {
    let mut group = w.next_row_group()?;
    let mut i = 0;
    while let Some(mut col) = group.next_column()? {
        let cells = &columns[i];
        let defs: Vec<i16> = cells.iter().map(|c| i16::from(!c.is_empty())).collect();
        let present = cells.iter().filter(|c| !c.is_empty());
        match kind(SAMPLES_CSV_COLUMNS[i]) {
            Kind::Int => {
                // Cells were written from integers; one that does not parse is null.
                let v: Vec<i64> = present.map(|c| c.parse().unwrap_or_default()).collect();
                col.typed::<Int64Type>()
                    .write_batch(&v, Some(&defs), None)?;
            }
            Kind::Double => {
                let v: Vec<f64> = present.map(|c| c.parse().unwrap_or_default()).collect();
                col.typed::<DoubleType>()
                    .write_batch(&v, Some(&defs), None)?;
            }
            Kind::Text => {
                let v: Vec<ByteArray> = present.map(|c| ByteArray::from(c.as_str())).collect();
                col.typed::<ByteArrayType>()
                    .write_batch(&v, Some(&defs), None)?;
            }
        }
        col.close()?;
        i += 1;
    }
    group.close()?;
    columns.iter_mut().for_each(Vec::clear);
    Ok(())
}

/// Writes `samples.parquet` of run `run_id` to `path` (atomically); returns the rows written.
pub fn write_samples_parquet(store: &Store, run_id: i64, path: &Path) -> Result<u64, ReportError> {
    let fail = |e: &dyn std::fmt::Display| ReportError::write(path, e.to_string());
    let pricing = Pricing::of_run(store, run_id)?;
    let file = AtomicFile::create_at(path).map_err(|e| fail(&e))?;
    let props = Arc::new(WriterProperties::builder().build());
    let schema = Arc::new(schema().map_err(|e| fail(&e))?);
    let mut w = SerializedFileWriter::new(file, schema, props).map_err(|e| fail(&e))?;
    let mut columns: Vec<Vec<String>> =
        vec![Vec::with_capacity(ROW_GROUP); SAMPLES_CSV_COLUMNS.len()];
    let mut conditions = ConditionCache::default();
    let mut rows = 0u64;
    store
        .for_each_export_row(run_id, false, |r| {
            let record = samples_record(&r, conditions.get(&r), pricing.cost(&r), false);
            for (column, cell) in columns.iter_mut().zip(record) {
                column.push(cell);
            }
            rows += 1;
            if columns[0].len() >= ROW_GROUP {
                write_group(&mut w, &mut columns)?;
            }
            Ok(())
        })?
        .map_err(|e: parquet::errors::ParquetError| fail(&e))?;
    if !columns[0].is_empty() {
        write_group(&mut w, &mut columns).map_err(|e| fail(&e))?;
    }
    let file = w.into_inner().map_err(|e| fail(&e))?;
    file.commit().map_err(|e| fail(&e))?;
    Ok(rows)
}
