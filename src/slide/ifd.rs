//! Low-level TIFF and BigTIFF structure: the header, image file directories (IFDs) and
//! tag values, read with positional reads and checked against the file size.
//!
//! Nothing here allocates from a header's claim without first checking that the claimed
//! bytes lie inside the file (TIFF 6.0 specification, Adobe 1992, section 2; BigTIFF
//! proposal, Aware Systems 2007).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// Largest number of IFDs followed (main chain plus SubIFDs); real slides have < 20.
pub(crate) const MAX_IFDS: usize = 4096;
/// Largest number of entries accepted in one IFD; real files have < 100.
const MAX_ENTRIES_PER_IFD: u64 = 4096;

/// TIFF 6.0 tag numbers used by the reader and by the synthetic-slide writer
/// (`crate::synth::tiff_writer`).
pub(crate) mod tag {
    pub const NEW_SUBFILE_TYPE: u16 = 254;
    pub const IMAGE_WIDTH: u16 = 256;
    pub const IMAGE_LENGTH: u16 = 257;
    pub const BITS_PER_SAMPLE: u16 = 258;
    pub const COMPRESSION: u16 = 259;
    pub const PHOTOMETRIC: u16 = 262;
    pub const IMAGE_DESCRIPTION: u16 = 270;
    pub const STRIP_OFFSETS: u16 = 273;
    pub const SAMPLES_PER_PIXEL: u16 = 277;
    pub const ROWS_PER_STRIP: u16 = 278;
    pub const STRIP_BYTE_COUNTS: u16 = 279;
    pub const X_RESOLUTION: u16 = 282;
    pub const Y_RESOLUTION: u16 = 283;
    pub const PLANAR_CONFIG: u16 = 284;
    pub const RESOLUTION_UNIT: u16 = 296;
    pub const SOFTWARE: u16 = 305;
    pub const PREDICTOR: u16 = 317;
    pub const COLOR_MAP: u16 = 320;
    pub const TILE_WIDTH: u16 = 322;
    pub const TILE_LENGTH: u16 = 323;
    pub const TILE_OFFSETS: u16 = 324;
    pub const TILE_BYTE_COUNTS: u16 = 325;
    pub const SUB_IFDS: u16 = 330;
    pub const EXTRA_SAMPLES: u16 = 338;
    pub const SAMPLE_FORMAT: u16 = 339;
    pub const JPEG_TABLES: u16 = 347;
    pub const YCBCR_SUBSAMPLING: u16 = 530;
    pub const REFERENCE_BLACK_WHITE: u16 = 532;
}

/// Byte order and offset width of a TIFF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Little-endian ("II") rather than big-endian ("MM").
    pub little_endian: bool,
    /// BigTIFF (64-bit offsets, version 43) rather than classic TIFF (version 42).
    pub big: bool,
}

impl Layout {
    fn u16(self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.little_endian {
            u16::from_le_bytes(a)
        } else {
            u16::from_be_bytes(a)
        }
    }
    fn u32(self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.little_endian {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    }
    fn u64(self, b: &[u8]) -> u64 {
        let a = [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
        if self.little_endian {
            u64::from_le_bytes(a)
        } else {
            u64::from_be_bytes(a)
        }
    }
    /// Bytes of one IFD entry's value field (4 classic, 8 BigTIFF).
    fn value_field_len(self) -> usize {
        if self.big {
            8
        } else {
            4
        }
    }
}

/// Reads exactly `buf.len()` bytes at `offset` without moving a shared cursor, so many
/// threads can read one `File` at once.
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0usize;
        while done < buf.len() {
            let n = std::os::windows::fs::FileExt::seek_read(
                file,
                &mut buf[done..],
                offset + done as u64,
            )?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        Ok(())
    }
}

/// One IFD entry: field type, value count and where the value bytes are.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    typ: u16,
    count: u64,
    /// The value bytes when they fit in the entry, else empty.
    inline: Vec<u8>,
    /// File offset of the value bytes when they do not fit.
    offset: u64,
}

/// Size in bytes of one value of TIFF field type `typ`, `None` for unknown types.
fn type_size(typ: u16) -> Option<u64> {
    Some(match typ {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16 | 17 | 18 => 8,
        _ => return None,
    })
}

/// A parsed image file directory.
#[derive(Debug, Clone)]
pub(crate) struct Ifd {
    /// File offset of the directory (for messages).
    pub offset: u64,
    entries: HashMap<u16, Entry>,
    /// What was tolerated in this directory, as libtiff warns about it (tags out of
    /// order, a tag given twice).
    pub warnings: Vec<String>,
}

/// The open TIFF file: handle, size, layout and a path for messages.
#[derive(Debug)]
pub(crate) struct TiffFile {
    pub file: File,
    pub len: u64,
    pub layout: Layout,
    pub path: std::path::PathBuf,
}

impl TiffFile {
    /// Opens `path` and parses its header; `None` when the header is not TIFF.
    pub fn open(path: &Path) -> Result<Option<(TiffFile, u64)>> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut head = [0u8; 16];
        let n = head.len().min(usize::try_from(len).unwrap_or(usize::MAX));
        read_exact_at(&file, &mut head[..n], 0).map_err(|e| Error::io(path, e))?;
        let little_endian = match &head[..2] {
            b"II" => true,
            b"MM" => false,
            _ => return Ok(None),
        };
        let probe = Layout {
            little_endian,
            big: false,
        };
        let version = probe.u16(&head[2..4]);
        let (layout, first) = match version {
            42 if n >= 8 => (probe, u64::from(probe.u32(&head[4..8]))),
            43 if n >= 16 => {
                let layout = Layout {
                    little_endian,
                    big: true,
                };
                if layout.u16(&head[4..6]) != 8 || layout.u16(&head[6..8]) != 0 {
                    return Err(Error::MalformedTiff {
                        path: path.to_path_buf(),
                        reason: "BigTIFF header has an offset size other than 8".into(),
                    });
                }
                (layout, layout.u64(&head[8..16]))
            }
            42 | 43 => {
                return Err(Error::MalformedTiff {
                    path: path.to_path_buf(),
                    reason: format!("file is {len} bytes, too short for a TIFF header"),
                })
            }
            _ => return Ok(None),
        };
        Ok(Some((
            TiffFile {
                file,
                len,
                layout,
                path: path.to_path_buf(),
            },
            first,
        )))
    }

    /// A [`Error::MalformedTiff`] for this file.
    pub fn malformed(&self, reason: impl Into<String>) -> Error {
        Error::MalformedTiff {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// Reads `len` bytes at `offset`, checking first that they lie inside the file.
    pub fn read_bytes(&self, offset: u64, len: u64, what: &str) -> Result<Vec<u8>> {
        let end = offset.checked_add(len).filter(|&e| e <= self.len);
        if end.is_none() {
            return Err(self.malformed(format!(
                "{what} at offset {offset} with {len} bytes runs past the end of the file \
                 ({} bytes)",
                self.len
            )));
        }
        let n = usize::try_from(len).map_err(|_| self.malformed(format!("{what} too large")))?;
        let mut buf = vec![0u8; n];
        read_exact_at(&self.file, &mut buf, offset).map_err(|e| Error::io(&self.path, e))?;
        Ok(buf)
    }

    /// Parses the IFD at `offset`; returns it and the offset of the next one (0 = none).
    pub fn read_ifd(&self, offset: u64) -> Result<(Ifd, u64)> {
        let l = self.layout;
        if offset < 8 || offset >= self.len {
            return Err(self.malformed(format!(
                "directory offset {offset} lies outside the file ({} bytes)",
                self.len
            )));
        }
        let count_len = if l.big { 8 } else { 2 };
        let count_bytes = self.read_bytes(offset, count_len, "directory")?;
        let count = if l.big {
            l.u64(&count_bytes)
        } else {
            u64::from(l.u16(&count_bytes))
        };
        if count == 0 || count > MAX_ENTRIES_PER_IFD {
            return Err(self.malformed(format!(
                "directory at offset {offset} claims {count} entries"
            )));
        }
        let entry_len: u64 = if l.big { 20 } else { 12 };
        let next_len: u64 = if l.big { 8 } else { 4 };
        let body = self.read_bytes(
            offset + count_len,
            count * entry_len + next_len,
            "directory entries",
        )?;
        let mut entries: HashMap<u16, Entry> = HashMap::new();
        let mut warnings = Vec::new();
        let mut previous_tag: Option<u16> = None;
        let mut unsorted = false;
        let mut seen: HashSet<u16> = HashSet::new();
        let mut duplicates: Vec<u16> = Vec::new();
        let vf = l.value_field_len();
        for i in 0..count as usize {
            let e = &body[i * entry_len as usize..(i + 1) * entry_len as usize];
            let tag = l.u16(&e[0..2]);
            // TIFF 6.0 asks for ascending tags; libtiff reads unsorted directories with a
            // warning (TIFFReadDirectoryCheckOrder) and so does this map-based reader.
            unsorted |= previous_tag.is_some_and(|p| tag < p);
            previous_tag = Some(tag);
            // A tag given twice: the first one wins, as in libtiff (TIFFReadDirectory,
            // tif_dirread.c, marks later duplicates IGNORE) and so OpenSlide, QuPath and
            // vips. tifffile may write two ImageDescriptions; the first holds Aperio's MPP.
            if !seen.insert(tag) {
                if !duplicates.contains(&tag) {
                    duplicates.push(tag);
                }
                continue;
            }
            let typ = l.u16(&e[2..4]);
            let (count, value) = if l.big {
                (l.u64(&e[4..12]), &e[12..20])
            } else {
                (u64::from(l.u32(&e[4..8])), &e[8..12])
            };
            let Some(size) = type_size(typ) else {
                // Unknown field types are skipped, as the specification asks.
                continue;
            };
            let total = count.checked_mul(size).ok_or_else(|| {
                self.malformed(format!(
                    "tag {tag} claims {count} values, an impossible size"
                ))
            })?;
            let entry = if total <= vf as u64 {
                Entry {
                    typ,
                    count,
                    inline: value[..total as usize].to_vec(),
                    offset: 0,
                }
            } else {
                let off = if l.big {
                    l.u64(value)
                } else {
                    u64::from(l.u32(value))
                };
                if off.checked_add(total).is_none_or(|end| end > self.len) {
                    return Err(self.malformed(format!(
                        "tag {tag} claims {count} values ({total} bytes) at offset {off}, \
                         past the end of the file ({} bytes)",
                        self.len
                    )));
                }
                Entry {
                    typ,
                    count,
                    inline: Vec::new(),
                    offset: off,
                }
            };
            entries.insert(tag, entry);
        }
        if unsorted {
            warnings.push(format!(
                "directory at offset {offset}: tags are not sorted in ascending order (read \
                 anyway, as libtiff does)"
            ));
        }
        for tag in duplicates {
            warnings.push(format!(
                "directory at offset {offset}: tag {tag} appears more than once; the first \
                 one is used, as libtiff does"
            ));
        }
        let tail = &body[(count * entry_len) as usize..];
        let next = if l.big {
            l.u64(tail)
        } else {
            u64::from(l.u32(tail))
        };
        Ok((
            Ifd {
                offset,
                entries,
                warnings,
            },
            next,
        ))
    }

    fn entry_bytes(&self, tag: u16, e: &Entry) -> Result<Vec<u8>> {
        if e.inline.is_empty() && e.count > 0 {
            let size = type_size(e.typ).unwrap_or(1);
            self.read_bytes(e.offset, e.count * size, &format!("tag {tag} values"))
        } else {
            Ok(e.inline.clone())
        }
    }

    /// All values of an integer tag as u64, `None` when absent.
    pub fn uints(&self, ifd: &Ifd, tag: u16) -> Result<Option<Vec<u64>>> {
        let Some(e) = ifd.entries.get(&tag) else {
            return Ok(None);
        };
        let bytes = self.entry_bytes(tag, e)?;
        let l = self.layout;
        let v: Vec<u64> = match e.typ {
            1 | 7 => bytes.iter().map(|&b| u64::from(b)).collect(),
            3 => bytes.chunks_exact(2).map(|c| u64::from(l.u16(c))).collect(),
            4 | 13 => bytes.chunks_exact(4).map(|c| u64::from(l.u32(c))).collect(),
            16 | 18 => bytes.chunks_exact(8).map(|c| l.u64(c)).collect(),
            _ => {
                return Err(self.malformed(format!(
                    "tag {tag} has field type {} where an unsigned integer is expected",
                    e.typ
                )))
            }
        };
        Ok(Some(v))
    }

    /// The single value of an integer tag, `None` when absent.
    pub fn uint(&self, ifd: &Ifd, tag: u16) -> Result<Option<u64>> {
        match self.uints(ifd, tag)? {
            None => Ok(None),
            Some(v) => v
                .first()
                .copied()
                .map(Some)
                .ok_or_else(|| self.malformed(format!("tag {tag} has no value"))),
        }
    }

    /// The first value of a RATIONAL (or integer) tag as f64, `None` when absent.
    pub fn rational(&self, ifd: &Ifd, tag: u16) -> Result<Option<f64>> {
        let Some(e) = ifd.entries.get(&tag) else {
            return Ok(None);
        };
        if e.count == 0 {
            return Ok(None);
        }
        let bytes = self.entry_bytes(tag, e)?;
        let l = self.layout;
        Ok(match e.typ {
            5 => {
                let (n, d) = (l.u32(&bytes[0..4]), l.u32(&bytes[4..8]));
                (d != 0).then(|| f64::from(n) / f64::from(d))
            }
            11 => Some(f64::from(f32::from_bits(l.u32(&bytes[0..4])))),
            12 => Some(f64::from_bits(l.u64(&bytes[0..8]))),
            _ => self.uint(ifd, tag)?.map(|v| v as f64),
        })
    }

    /// An ASCII tag as text (up to the first NUL, lossy UTF-8), `None` when absent.
    pub fn ascii(&self, ifd: &Ifd, tag: u16) -> Result<Option<String>> {
        let Some(e) = ifd.entries.get(&tag) else {
            return Ok(None);
        };
        let bytes = self.entry_bytes(tag, e)?;
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Ok(Some(String::from_utf8_lossy(&bytes[..end]).into_owned()))
    }

    /// The raw bytes of an UNDEFINED/BYTE tag (e.g. JPEGTables), `None` when absent.
    pub fn raw(&self, ifd: &Ifd, tag: u16) -> Result<Option<Vec<u8>>> {
        match ifd.entries.get(&tag) {
            None => Ok(None),
            Some(e) => self.entry_bytes(tag, e).map(Some),
        }
    }
}
