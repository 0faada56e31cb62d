//! `ferry discover`: the objects the system holds and their fields.

use ferry_model::ConnectorError;

use crate::Format;
use crate::connector::FilesConnector;
use crate::{rows, source};
use ferry_kit::{FieldInfo, ObjectInfo};

impl FilesConnector {
    /// Each file (and each sheet of a workbook with several) with its header cells as text
    /// fields; a file that cannot be read is skipped with a warning.
    pub(crate) async fn discover_objects(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        let dir = self.dir.clone();
        let system = self.system.clone();
        source::blocking(move || {
            let files = source::list_files(&dir, |name| Format::from_name(name).is_some())?;
            let mut objects = Vec::new();
            for file in files {
                let sheets = match source::headers_of(&file) {
                    Ok(sheets) => sheets,
                    Err(rows::ReadError::Io(e)) => return Err(source::io_error(&format!("cannot read {}", file.name), &e)),
                    Err(rows::ReadError::File(message)) => {
                        tracing::warn!(system = %system, file = %file.name, "discover skips a file: {message}");
                        continue;
                    }
                };
                let several = sheets.len() > 1;
                for (sheet, headers) in sheets {
                    let name = match sheet {
                        Some(sheet) if several => format!("{}#{sheet}", file.name),
                        _ => file.name.clone(),
                    };
                    let fields = headers
                        .into_iter()
                        .enumerate()
                        .map(|(i, h)| FieldInfo {
                            name: if h.is_empty() { format!("column_{}", i + 1) } else { h },
                            ty: "text".into(),
                            nullable: true,
                        })
                        .collect();
                    objects.push(ObjectInfo { name, fields });
                }
            }
            Ok(objects)
        })
        .await
    }
}
