//! A small streaming writer of classic TIFF and BigTIFF files.
//!
//! Data (tiles) are appended as they are produced; image file directories (IFDs) are
//! written afterwards and chained, the header's first-IFD offset and each IFD's next
//! offset being patched in place. Only what pyramidal tiled slides need is supported:
//! little-endian byte order, the value types BYTE, ASCII, SHORT, LONG, RATIONAL,
//! UNDEFINED and LONG8 (BigTIFF only).
//!
//! References: TIFF 6.0 specification (Adobe 1992), sections 2 (structure) and 15 (tiles);
//! BigTIFF design (Aware Systems, <https://www.awaresystems.be/imaging/tiff/bigtiff.html>):
//! version 43, 8-byte offsets, 20-byte IFD entries, 8-byte entry counts.

use std::io::{Seek, SeekFrom, Write};

/// Classic TIFF (32-bit offsets) or BigTIFF (64-bit offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    /// Classic TIFF, version 42: offsets and the file size below 4 GiB.
    Classic,
    /// BigTIFF, version 43.
    Big,
}

pub(crate) use crate::slide::tiff_tags as tag;

/// The value of one IFD entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// ASCII text; a terminating NUL is added.
    Ascii(String),
    /// 16-bit unsigned values.
    Short(Vec<u16>),
    /// 32-bit unsigned values.
    Long(Vec<u32>),
    /// 64-bit unsigned values (BigTIFF only).
    Long8(Vec<u64>),
    /// Fractions numerator / denominator.
    Rational(Vec<(u32, u32)>),
    /// Opaque bytes.
    Undefined(Vec<u8>),
}

impl Value {
    /// TIFF field type code.
    fn type_code(&self) -> u16 {
        match self {
            Value::Ascii(_) => 2,
            Value::Short(_) => 3,
            Value::Long(_) => 4,
            Value::Rational(_) => 5,
            Value::Undefined(_) => 7,
            Value::Long8(_) => 16,
        }
    }

    /// Number of values (the entry's count).
    fn count(&self) -> u64 {
        match self {
            Value::Ascii(s) => s.len() as u64 + 1,
            Value::Short(v) => v.len() as u64,
            Value::Long(v) => v.len() as u64,
            Value::Long8(v) => v.len() as u64,
            Value::Rational(v) => v.len() as u64,
            Value::Undefined(v) => v.len() as u64,
        }
    }

    /// Little-endian bytes of the values.
    fn bytes(&self) -> Vec<u8> {
        match self {
            Value::Ascii(s) => {
                let mut b = s.as_bytes().to_vec();
                b.push(0);
                b
            }
            Value::Short(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Value::Long(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Value::Long8(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Value::Rational(v) => v
                .iter()
                .flat_map(|(n, d)| n.to_le_bytes().into_iter().chain(d.to_le_bytes()))
                .collect(),
            Value::Undefined(v) => v.clone(),
        }
    }

    /// Offsets or byte counts as LONG (classic) or LONG8 (BigTIFF).
    ///
    /// # Errors
    /// A message when a value does not fit 32 bits in a classic TIFF.
    pub(crate) fn offsets(flavour: Flavour, values: &[u64]) -> Result<Value, String> {
        match flavour {
            Flavour::Big => Ok(Value::Long8(values.to_vec())),
            Flavour::Classic => values
                .iter()
                .map(|&v| u32::try_from(v).map_err(|_| too_big(v)))
                .collect::<Result<Vec<u32>, String>>()
                .map(Value::Long),
        }
    }
}

fn too_big(offset: u64) -> String {
    format!(
        "offset {offset} does not fit a classic TIFF (4 GiB limit); write BigTIFF instead \
         (--bigtiff)"
    )
}

/// One IFD entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// Tag number.
    pub tag: u16,
    /// Value.
    pub value: Value,
}

impl Entry {
    pub(crate) fn new(tag: u16, value: Value) -> Entry {
        Entry { tag, value }
    }
}

/// Streaming TIFF writer over any seekable output.
#[derive(Debug)]
pub(crate) struct TiffWriter<W: Write + Seek> {
    out: W,
    flavour: Flavour,
    /// Current end of file (where the next byte goes).
    pos: u64,
    /// Where the offset of the next IFD must be patched (header, then each IFD's
    /// next-IFD field).
    link_slot: u64,
}

/// Errors of the writer: I/O, or a message (offsets beyond the classic limit).
#[derive(Debug)]
pub(crate) enum WriteError {
    /// The output failed.
    Io(std::io::Error),
    /// The structure cannot be written (e.g. too large for classic TIFF).
    Format(String),
}

impl From<std::io::Error> for WriteError {
    fn from(e: std::io::Error) -> Self {
        WriteError::Io(e)
    }
}

impl<W: Write + Seek> TiffWriter<W> {
    /// Starts a file: writes the header with a placeholder first-IFD offset.
    pub(crate) fn new(mut out: W, flavour: Flavour) -> Result<Self, WriteError> {
        out.seek(SeekFrom::Start(0))?;
        let (header, link_slot): (Vec<u8>, u64) = match flavour {
            // "II", 42, first IFD offset (4 bytes).
            Flavour::Classic => (vec![b'I', b'I', 42, 0, 0, 0, 0, 0], 4),
            // "II", 43, offset size 8, reserved 0, first IFD offset (8 bytes).
            Flavour::Big => (
                vec![b'I', b'I', 43, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                8,
            ),
        };
        out.write_all(&header)?;
        Ok(TiffWriter {
            out,
            flavour,
            pos: header.len() as u64,
            link_slot,
        })
    }

    /// The flavour being written.
    pub(crate) fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// Bytes written so far.
    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    /// Appends `data` (e.g. one tile) and returns its offset.
    pub(crate) fn write_data(&mut self, data: &[u8]) -> Result<u64, WriteError> {
        let offset = self.pos;
        self.check_fits(offset + data.len() as u64)?;
        self.out.write_all(data)?;
        self.pos += data.len() as u64;
        Ok(offset)
    }

    fn check_fits(&self, end: u64) -> Result<(), WriteError> {
        if self.flavour == Flavour::Classic && end > u64::from(u32::MAX) {
            return Err(WriteError::Format(too_big(end)));
        }
        Ok(())
    }

    fn pad_to(&mut self, alignment: u64) -> Result<(), WriteError> {
        let pad = (alignment - self.pos % alignment) % alignment;
        if pad > 0 {
            self.out.write_all(&vec![0u8; pad as usize])?;
            self.pos += pad;
        }
        Ok(())
    }

    /// Writes an IFD with `entries` (any order; sorted by tag here), its out-of-line
    /// values first, and links it after the previous IFD (or from the header). Returns
    /// the IFD's offset.
    pub(crate) fn write_ifd(&mut self, entries: &[Entry]) -> Result<u64, WriteError> {
        let mut sorted: Vec<&Entry> = entries.iter().collect();
        sorted.sort_by_key(|e| e.tag);
        let (inline_max, align) = match self.flavour {
            Flavour::Classic => (4usize, 2u64),
            Flavour::Big => (8usize, 8u64),
        };
        // Out-of-line values, each word-aligned.
        let mut fields = Vec::with_capacity(sorted.len());
        for e in &sorted {
            let bytes = e.value.bytes();
            if bytes.len() > inline_max {
                self.pad_to(align)?;
                let offset = self.write_data(&bytes)?;
                // check_fits kept classic offsets below 4 GiB, so the low bytes suffice.
                fields.push((e, offset.to_le_bytes()[..inline_max].to_vec()));
            } else {
                let mut slot = bytes;
                slot.resize(inline_max, 0);
                fields.push((e, slot));
            }
        }
        self.pad_to(align)?;
        let ifd_offset = self.pos;
        let mut ifd = Vec::new();
        match self.flavour {
            Flavour::Classic => {
                let n = u16::try_from(fields.len())
                    .map_err(|_| WriteError::Format("too many IFD entries".into()))?;
                ifd.extend_from_slice(&n.to_le_bytes());
            }
            Flavour::Big => ifd.extend_from_slice(&(fields.len() as u64).to_le_bytes()),
        }
        for (e, slot) in &fields {
            ifd.extend_from_slice(&e.tag.to_le_bytes());
            ifd.extend_from_slice(&e.value.type_code().to_le_bytes());
            match self.flavour {
                Flavour::Classic => {
                    let count = u32::try_from(e.value.count())
                        .map_err(|_| WriteError::Format(too_big(e.value.count())))?;
                    ifd.extend_from_slice(&count.to_le_bytes());
                }
                Flavour::Big => ifd.extend_from_slice(&e.value.count().to_le_bytes()),
            }
            ifd.extend_from_slice(slot);
        }
        let next_slot = ifd_offset + ifd.len() as u64;
        ifd.extend_from_slice(&vec![0u8; inline_max]);
        self.write_data(&ifd)?;
        self.patch_offset(self.link_slot, ifd_offset)?;
        self.link_slot = next_slot;
        Ok(ifd_offset)
    }

    fn patch_offset(&mut self, slot: u64, value: u64) -> Result<(), WriteError> {
        self.out.seek(SeekFrom::Start(slot))?;
        match self.flavour {
            Flavour::Classic => {
                let v = u32::try_from(value).map_err(|_| WriteError::Format(too_big(value)))?;
                self.out.write_all(&v.to_le_bytes())?;
            }
            Flavour::Big => self.out.write_all(&value.to_le_bytes())?,
        }
        self.out.seek(SeekFrom::Start(self.pos))?;
        Ok(())
    }

    /// Flushes and returns the output.
    pub(crate) fn finish(mut self) -> Result<W, WriteError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn read_u16(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }
    fn read_u32(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn read_u64(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    /// Entries of a 16 x 16 px RGB image stored as one uncompressed tile.
    fn tiny_image_entries(flavour: Flavour, offset: u64, len: u64) -> Vec<Entry> {
        vec![
            Entry::new(tag::IMAGE_LENGTH, Value::Long(vec![16])),
            Entry::new(tag::IMAGE_WIDTH, Value::Long(vec![16])),
            Entry::new(tag::BITS_PER_SAMPLE, Value::Short(vec![8, 8, 8])),
            Entry::new(tag::COMPRESSION, Value::Short(vec![1])),
            Entry::new(tag::PHOTOMETRIC, Value::Short(vec![2])),
            Entry::new(tag::IMAGE_DESCRIPTION, Value::Ascii("hello".into())),
            Entry::new(tag::SAMPLES_PER_PIXEL, Value::Short(vec![3])),
            Entry::new(tag::PLANAR_CONFIG, Value::Short(vec![1])),
            Entry::new(tag::X_RESOLUTION, Value::Rational(vec![(40000, 1)])),
            Entry::new(tag::Y_RESOLUTION, Value::Rational(vec![(40000, 1)])),
            Entry::new(tag::RESOLUTION_UNIT, Value::Short(vec![3])),
            Entry::new(tag::TILE_WIDTH, Value::Short(vec![16])),
            Entry::new(tag::TILE_LENGTH, Value::Short(vec![16])),
            Entry::new(
                tag::TILE_OFFSETS,
                Value::offsets(flavour, &[offset]).unwrap(),
            ),
            Entry::new(
                tag::TILE_BYTE_COUNTS,
                Value::offsets(flavour, &[len]).unwrap(),
            ),
        ]
    }

    fn write_tiny(flavour: Flavour, ifds: usize) -> (Vec<u8>, Vec<u8>) {
        let pixels: Vec<u8> = (0..16 * 16 * 3).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = TiffWriter::new(Cursor::new(Vec::new()), flavour).unwrap();
        let off = w.write_data(&pixels).unwrap();
        for _ in 0..ifds {
            w.write_ifd(&tiny_image_entries(flavour, off, pixels.len() as u64))
                .unwrap();
        }
        (w.finish().unwrap().into_inner(), pixels)
    }

    #[test]
    fn classic_header_and_sorted_entries() {
        let (b, _) = write_tiny(Flavour::Classic, 1);
        assert_eq!(&b[..4], b"II*\0");
        let ifd = read_u32(&b, 4) as usize;
        assert_eq!(ifd % 2, 0, "IFD must be word-aligned");
        let n = read_u16(&b, ifd) as usize;
        assert_eq!(n, 15);
        let tags: Vec<u16> = (0..n).map(|i| read_u16(&b, ifd + 2 + 12 * i)).collect();
        assert!(tags.windows(2).all(|w| w[0] < w[1]), "{tags:?}");
        // Next-IFD offset of the only IFD is 0.
        assert_eq!(read_u32(&b, ifd + 2 + 12 * n), 0);
        // The description is out of line ("hello\0" is 6 bytes > 4).
        let desc = (0..n)
            .map(|i| ifd + 2 + 12 * i)
            .find(|&e| read_u16(&b, e) == 270)
            .unwrap();
        assert_eq!(read_u32(&b, desc + 4), 6);
        let at = read_u32(&b, desc + 8) as usize;
        assert_eq!(&b[at..at + 6], b"hello\0");
    }

    #[test]
    fn bigtiff_header_and_entries() {
        let (b, _) = write_tiny(Flavour::Big, 1);
        assert_eq!(&b[..4], b"II+\0");
        assert_eq!(read_u16(&b, 4), 8);
        let ifd = read_u64(&b, 8) as usize;
        assert_eq!(ifd % 8, 0);
        let n = read_u64(&b, ifd) as usize;
        assert_eq!(n, 15);
        // TileOffsets is LONG8 (type 16) in BigTIFF.
        let e = (0..n)
            .map(|i| ifd + 8 + 20 * i)
            .find(|&e| read_u16(&b, e) == 324)
            .unwrap();
        assert_eq!(read_u16(&b, e + 2), 16);
        assert_eq!(
            read_u64(&b, e + 12),
            16,
            "tile data right after the 16-byte header"
        );
    }

    #[test]
    fn ifds_are_chained() {
        let (b, _) = write_tiny(Flavour::Classic, 3);
        let mut offsets = Vec::new();
        let mut at = read_u32(&b, 4) as usize;
        while at != 0 {
            offsets.push(at);
            let n = read_u16(&b, at) as usize;
            at = read_u32(&b, at + 2 + 12 * n) as usize;
        }
        assert_eq!(offsets.len(), 3);
    }

    #[test]
    fn tiff_crate_reads_what_we_write() {
        for flavour in [Flavour::Classic, Flavour::Big] {
            let (b, pixels) = write_tiny(flavour, 2);
            let mut dec = tiff::decoder::Decoder::new(Cursor::new(b)).unwrap();
            for ifd in 0..2 {
                assert_eq!(dec.dimensions().unwrap(), (16, 16));
                match dec.read_image().unwrap() {
                    tiff::decoder::DecodingResult::U8(v) => assert_eq!(v, pixels),
                    other => panic!("unexpected {other:?}"),
                }
                if ifd == 0 {
                    dec.next_image().unwrap();
                }
            }
            assert!(!dec.more_images());
        }
    }

    #[test]
    fn classic_rejects_offsets_beyond_4_gib() {
        assert!(Value::offsets(Flavour::Classic, &[u64::from(u32::MAX) + 1]).is_err());
        assert!(Value::offsets(Flavour::Big, &[u64::from(u32::MAX) + 1]).is_ok());
    }
}
