//! Column tables written as CSV and as Parquet (uncompressed, plain encoding), so they
//! open in pandas, polars, DuckDB or any Parquet reader.

use std::path::Path;
use std::sync::Arc;

use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use crate::StoreError;

/// One column of a [`Table`].
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    Int(Vec<i64>),
    Float(Vec<f64>),
    /// Floats with missing values (written as empty CSV fields and Parquet nulls).
    OptFloat(Vec<Option<f64>>),
    Text(Vec<String>),
}

impl Column {
    fn len(&self) -> usize {
        match self {
            Column::Int(v) => v.len(),
            Column::Float(v) => v.len(),
            Column::OptFloat(v) => v.len(),
            Column::Text(v) => v.len(),
        }
    }

    fn csv_cell(&self, row: usize) -> String {
        match self {
            Column::Int(v) => v[row].to_string(),
            Column::Float(v) => float_text(v[row]),
            Column::OptFloat(v) => v[row].map(float_text).unwrap_or_default(),
            Column::Text(v) => csv_quote(&v[row]),
        }
    }
}

/// Shortest text that parses back to the same `f64` (Rust's `Display` is round-trip exact).
fn float_text(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{x}")
    }
}

fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Named columns of equal length.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<(String, Column)>,
}

impl Table {
    /// Appends a column.
    pub fn push(&mut self, name: &str, column: Column) {
        self.columns.push((name.to_string(), column));
    }

    /// Whether a column is called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.columns.iter().any(|(n, _)| n == name)
    }

    /// Number of rows (that of the first column).
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, c)| c.len())
    }

    /// The CSV text, with a header line.
    pub fn to_csv(&self) -> String {
        let mut out = self
            .columns
            .iter()
            .map(|(n, _)| csv_quote(n))
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for r in 0..self.rows() {
            let row: Vec<String> = self.columns.iter().map(|(_, c)| c.csv_cell(r)).collect();
            out.push_str(&row.join(","));
            out.push('\n');
        }
        out
    }

    /// The Parquet bytes: one row group, no compression.
    pub fn to_parquet(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let pq = |e: parquet::errors::ParquetError| StoreError::Parquet(e.to_string());
        let fields: Vec<String> = self
            .columns
            .iter()
            .map(|(n, c)| {
                let n = parquet_name(n);
                match c {
                    Column::Int(_) => format!("required int64 {n};"),
                    Column::Float(_) => format!("required double {n};"),
                    Column::OptFloat(_) => format!("optional double {n};"),
                    Column::Text(_) => format!("required binary {n} (UTF8);"),
                }
            })
            .collect();
        let schema = parse_message_type(&format!(
            "message {} {{ {} }}",
            parquet_name(name),
            fields.join(" ")
        ))
        .map_err(pq)?;
        let props = WriterProperties::builder()
            .set_created_by(format!("pretrainlab {}", env!("CARGO_PKG_VERSION")))
            .build();
        let mut buf = Vec::new();
        let mut writer =
            SerializedFileWriter::new(&mut buf, Arc::new(schema), Arc::new(props)).map_err(pq)?;
        let mut group = writer.next_row_group().map_err(pq)?;
        for (_, column) in &self.columns {
            let mut col = group
                .next_column()
                .map_err(pq)?
                .ok_or_else(|| StoreError::Parquet("schema has fewer columns".into()))?;
            match column {
                Column::Int(v) => {
                    col.typed::<Int64Type>()
                        .write_batch(v, None, None)
                        .map_err(pq)?;
                }
                Column::Float(v) => {
                    col.typed::<DoubleType>()
                        .write_batch(v, None, None)
                        .map_err(pq)?;
                }
                Column::OptFloat(v) => {
                    let present: Vec<f64> = v.iter().flatten().copied().collect();
                    let levels: Vec<i16> = v.iter().map(|x| i16::from(x.is_some())).collect();
                    col.typed::<DoubleType>()
                        .write_batch(&present, Some(&levels), None)
                        .map_err(pq)?;
                }
                Column::Text(v) => {
                    let bytes: Vec<ByteArray> =
                        v.iter().map(|s| ByteArray::from(s.as_str())).collect();
                    col.typed::<ByteArrayType>()
                        .write_batch(&bytes, None, None)
                        .map_err(pq)?;
                }
            }
            col.close().map_err(pq)?;
        }
        group.close().map_err(pq)?;
        writer.close().map_err(pq)?;
        Ok(buf)
    }

    /// Writes `<stem>.csv` and `<stem>.parquet` atomically.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<(), StoreError> {
        crate::store::atomic_write(&dir.join(format!("{stem}.csv")), self.to_csv().as_bytes())?;
        crate::store::atomic_write(
            &dir.join(format!("{stem}.parquet")),
            &self.to_parquet(stem)?,
        )
    }
}

/// A column name Parquet's schema parser accepts: letters, digits and `_`.
fn parquet_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) || s.is_empty() {
        format!("c_{s}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn parquet_reads_back_with_a_rust_reader() {
        let mut t = Table::default();
        t.push("point", Column::Int(vec![0, 1, 2]));
        t.push("alpha", Column::Float(vec![0.5, 1.0, 0.1 + 0.2]));
        t.push("extra", Column::OptFloat(vec![Some(1.5), None, Some(-2.0)]));
        t.push(
            "verdict",
            Column::Text(vec!["pass".into(), "fail, really".into(), "pass".into()]),
        );
        let dir = std::env::temp_dir().join(format!("pretrainlab-table-{}", std::process::id()));
        t.write(&dir, "points").unwrap();
        let file = std::fs::File::open(dir.join("points.parquet")).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 3);
        let rows: Vec<String> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| r.unwrap().to_string())
            .collect();
        assert!(rows[1].contains("extra: null"), "{rows:?}");
        assert!(rows[2].contains("alpha: 0.30000000000000004"), "{rows:?}");
        assert!(rows[1].contains("\"fail, really\""), "{rows:?}");
        let csv = t.to_csv();
        assert_eq!(csv.lines().nth(2), Some("1,1,,\"fail, really\""));
    }
}
