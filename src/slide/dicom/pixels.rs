//! Where a DICOM file's frames lie, and decoding one frame.
//!
//! dicom-rs (`dicom-parser`'s lazy data-set reader) walks the data set up to the Pixel
//! Data element (7FE0,0010) of the top-level data set and says at which file offset its
//! value starts; values before it are skipped, nothing of the pixel data is read. For
//! encapsulated pixel data the item headers (tag FFFE,E000 and a 32-bit length, PS3.5
//! A.4) are then read one by one with positional reads, 8 bytes each, jumping over the
//! fragments: dicom-rs would read every fragment to skip it, so this walk is written here
//! by hand. Frames are read later, one at a time, from the offsets found.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_parser::dataset::lazy_read::LazyDataSetReader;
use dicom_parser::dataset::LazyDataToken;
use dicom_parser::StatefulDecode;
use dicom_transfer_syntax_registry::TransferSyntax;

use crate::error::{Error, Result};
use crate::slide::codec::{decode_jpeg2000, decode_jpeg_frame, ybr_to_rgb, Chunk, J2kSpace};
use crate::slide::dir::Photometric;
use crate::slide::ifd::read_exact_at;
use crate::slide::Limits;

/// Where the pixel data's value lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PixelData {
    /// Native (uncompressed) pixels: `len` bytes from `offset`, frame after frame.
    Native { offset: u64, len: u64 },
    /// Encapsulated (compressed) frames: the first item header is at `items_at`.
    Encapsulated { items_at: u64 },
}

/// How a frame is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameCodec {
    /// JPEG baseline (1.2.840.10008.1.2.4.50).
    Jpeg,
    /// JPEG 2000 (1.2.840.10008.1.2.4.90 and .91).
    Jpeg2000,
    /// Native 8-bit samples; `planar`: all reds, then greens, then blues.
    Native { planar: bool },
}

/// What the three samples of a frame hold (PhotometricInterpretation, PS3.3 C.7.6.3.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameColour {
    /// RGB.
    Rgb,
    /// YBR_FULL or YBR_FULL_422: Y, Cb, Cr, full range.
    YbrFull,
    /// YBR_ICT or YBR_RCT (JPEG 2000 with its component transform, undone by the decoder).
    Ybr2000,
}

fn malformed(path: &Path, reason: impl Into<String>) -> Error {
    Error::MalformedDicom {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Finds the top-level Pixel Data element of the data set that starts at `data_set_at`
/// (just after the file meta group), in transfer syntax `ts`. Every value before it must
/// fit in the file: dicom-rs allocates a value's declared length before reading it, so a
/// damaged length (a 90 KB file declaring a 1.6 GB value) would cost that much memory in
/// [`super::instance::read_instance`]'s later full read; this walk, which allocates
/// nothing for values, runs first and refuses such a file.
pub(crate) fn locate(path: &Path, data_set_at: u64, ts: &TransferSyntax) -> Result<PixelData> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut source = BufReader::new(file);
    source
        .seek(SeekFrom::Start(data_set_at))
        .map_err(|e| Error::io(path, e))?;
    let mut reader = LazyDataSetReader::new_with_ts(source, ts)
        .map_err(|e| malformed(path, format!("cannot read the data set: {}", chain(&e))))?;
    // Depth of nested sequences: an icon image sequence may hold its own Pixel Data.
    let mut depth = 0usize;
    let mut native_header: Option<u64> = None;
    loop {
        let Some(token) = reader.advance() else {
            return Err(malformed(
                path,
                "the data set has no Pixel Data (7FE0,0010)",
            ));
        };
        let token = token.map_err(|e| {
            malformed(
                path,
                format!(
                    "the data set is corrupt before the pixel data: {}",
                    chain(&e)
                ),
            )
        })?;
        match token {
            LazyDataToken::SequenceStart { .. } => depth += 1,
            LazyDataToken::PixelSequenceStart if depth == 0 => break,
            LazyDataToken::PixelSequenceStart => depth += 1,
            LazyDataToken::SequenceEnd => depth = depth.saturating_sub(1),
            LazyDataToken::ElementHeader(h) if depth == 0 && h.tag == tags::PIXEL_DATA => {
                native_header = h.len.get().map(u64::from);
                if native_header.is_none() {
                    return Err(malformed(path, "Pixel Data has an undefined length"));
                }
            }
            LazyDataToken::LazyValue { header, decoder } => {
                let at = decoder.position();
                if let Some(len) = header.len.get() {
                    if at.saturating_add(u64::from(len)) > file_len {
                        return Err(malformed(
                            path,
                            format!(
                                "element ({:04X},{:04X}) at byte {at} declares {len} value \
                                 bytes, but the file ends at byte {file_len}",
                                header.tag.group(),
                                header.tag.element()
                            ),
                        ));
                    }
                }
                if depth == 0 && header.tag == tags::PIXEL_DATA {
                    let offset = decoder.position();
                    let len = native_header.unwrap_or(0);
                    return Ok(PixelData::Native { offset, len });
                }
                LazyDataToken::LazyValue { header, decoder }
                    .skip()
                    .map_err(|e| malformed(path, format!("truncated data set: {}", chain(&e))))?;
            }
            other => other
                .skip()
                .map_err(|e| malformed(path, format!("truncated data set: {}", chain(&e))))?,
        }
    }
    let items_at = reader.into_decoder().position();
    Ok(PixelData::Encapsulated { items_at })
}

/// An error and its sources, joined with ": " (dicom-rs errors say little on their own).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = s.source();
    }
    text
}

/// The byte ranges (file offset, length) that make one frame, in order.
pub(crate) type FrameBytes = Box<[(u64, u64)]>;

/// Item tags of encapsulated pixel data (PS3.5 7.5, A.4): item, sequence delimiter.
const ITEM: [u8; 4] = [0xFE, 0xFF, 0x00, 0xE0];
const SEQUENCE_DELIMITER: [u8; 4] = [0xFE, 0xFF, 0xDD, 0xE0];

/// One fragment: where its item header is, where its bytes are and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fragment {
    item_at: u64,
    offset: u64,
    len: u64,
}

/// The byte ranges (offset, length) of each of `frames` encapsulated frames whose items
/// start at `items_at` in `file` (`file_len` bytes long).
///
/// One fragment per frame is the rule in whole-slide images; otherwise the Basic Offset
/// Table (the first item) says where each frame starts, and a single frame takes every
/// fragment. A fragment or table that runs past the end of the file, a table that does
/// not point at fragments, and a fragment count that fits no frame count are errors.
pub(crate) fn encapsulated_frames(
    (file, path, file_len): (&File, &Path, u64),
    items_at: u64,
    frames: u64,
    limits: &Limits,
) -> Result<Vec<FrameBytes>> {
    let header = |at: u64| -> Result<([u8; 4], u64)> {
        if at.checked_add(8).is_none_or(|end| end > file_len) {
            return Err(malformed(
                path,
                format!(
                    "the pixel data's item list is truncated: the item header at offset \
                     {at} lies past the end of the file ({file_len} bytes); the frame \
                     table is incomplete"
                ),
            ));
        }
        let mut b = [0u8; 8];
        read_exact_at(file, &mut b, at).map_err(|e| Error::io(path, e))?;
        let len = u64::from(u32::from_le_bytes([b[4], b[5], b[6], b[7]]));
        Ok(([b[0], b[1], b[2], b[3]], len))
    };
    // The Basic Offset Table: an item of 4-byte offsets, possibly empty.
    let (tag, bot_len) = header(items_at)?;
    if tag != ITEM {
        return Err(malformed(
            path,
            format!(
                "the encapsulated pixel data at offset {items_at} does not start with an \
                 item (found tag bytes {tag:02X?}): no Basic Offset Table"
            ),
        ));
    }
    if bot_len % 4 != 0 || items_at + 8 + bot_len > file_len {
        return Err(malformed(
            path,
            format!(
                "the Basic Offset Table at offset {items_at} claims {bot_len} bytes: not a \
                 whole number of 4-byte offsets, or past the end of the file ({file_len} \
                 bytes)"
            ),
        ));
    }
    let mut bot = vec![0u8; bot_len as usize];
    read_exact_at(file, &mut bot, items_at + 8).map_err(|e| Error::io(path, e))?;
    let bot: Vec<u64> = bot
        .chunks_exact(4)
        .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect();
    let first_item = items_at + 8 + bot_len;
    let mut fragments: Vec<Fragment> = Vec::new();
    let mut at = first_item;
    loop {
        let (tag, len) = header(at)?;
        if tag == SEQUENCE_DELIMITER {
            break;
        }
        if tag != ITEM {
            return Err(malformed(
                path,
                format!(
                    "expected a fragment item or the sequence delimiter at offset {at}, \
                     found tag bytes {tag:02X?}"
                ),
            ));
        }
        let offset = at + 8;
        if offset + len > file_len {
            return Err(malformed(
                path,
                format!(
                    "frame data is truncated: fragment {} at offset {offset} claims {len} \
                     bytes, the file ends at {file_len}",
                    fragments.len() + 1
                ),
            ));
        }
        if len > limits.max_compressed_chunk_bytes {
            return Err(malformed(
                path,
                format!(
                    "fragment {} claims {len} compressed bytes, more than the limit of {}",
                    fragments.len() + 1,
                    limits.max_compressed_chunk_bytes
                ),
            ));
        }
        fragments.push(Fragment {
            item_at: at,
            offset,
            len,
        });
        at = offset + len;
    }
    let n = fragments.len() as u64;
    let one = |f: &Fragment| vec![(f.offset, f.len)].into_boxed_slice();
    if n == frames {
        return Ok(fragments.iter().map(one).collect());
    }
    if frames == 1 && n > 0 {
        let all: Vec<(u64, u64)> = fragments.iter().map(|f| (f.offset, f.len)).collect();
        return Ok(vec![all.into_boxed_slice()]);
    }
    if bot.is_empty() {
        return Err(malformed(
            path,
            format!(
                "NumberOfFrames is {frames} but the pixel data holds {n} fragments and an \
                 empty Basic Offset Table: the frames cannot be told apart"
            ),
        ));
    }
    if bot.len() as u64 != frames {
        return Err(malformed(
            path,
            format!(
                "the Basic Offset Table lists {} frames, NumberOfFrames is {frames}",
                bot.len()
            ),
        ));
    }
    // Offsets count from the first fragment's item header.
    let mut out = Vec::with_capacity(bot.len());
    for (i, &start) in bot.iter().enumerate() {
        let end = bot.get(i + 1).copied().unwrap_or(u64::MAX);
        let Ok(first) = fragments.binary_search_by_key(&(first_item + start), |f| f.item_at) else {
            return Err(malformed(
                path,
                format!(
                    "Basic Offset Table entry {} ({start}) does not point at a fragment",
                    i + 1
                ),
            ));
        };
        let pieces: Vec<(u64, u64)> = fragments[first..]
            .iter()
            .take_while(|f| f.item_at - first_item < end)
            .map(|f| (f.offset, f.len))
            .collect();
        out.push(pieces.into_boxed_slice());
    }
    Ok(out)
}

/// The byte ranges of `frames` native frames of `frame_bytes` each in a value of
/// `len` bytes at `offset`.
pub(crate) fn native_frames(
    (path, file_len): (&Path, u64),
    (offset, len): (u64, u64),
    frames: u64,
    frame_bytes: u64,
) -> Result<Vec<FrameBytes>> {
    let need = frames.saturating_mul(frame_bytes);
    if len < need {
        return Err(malformed(
            path,
            format!(
                "Pixel Data holds {len} bytes, {frames} frames of {frame_bytes} bytes need \
                 {need}"
            ),
        ));
    }
    if offset.saturating_add(need) > file_len {
        return Err(malformed(
            path,
            format!(
                "frame data is truncated: {frames} frames of {frame_bytes} bytes from \
                 offset {offset} run past the end of the file ({file_len} bytes)"
            ),
        ));
    }
    Ok((0..frames)
        .map(|i| vec![(offset + i * frame_bytes, frame_bytes)].into_boxed_slice())
        .collect())
}

/// Decodes one frame of `size` px (Columns x Rows) to RGB8.
///
/// JPEG: the stream's own colour signalling decides (JFIF or no marker: YCbCr, converted;
/// Adobe transform 0 or component IDs R, G, B: RGB as coded), as libjpeg and so OpenSlide
/// and pydicom do, whatever the PhotometricInterpretation says (converters often write
/// RGB there over YCbCr JPEG, as in the pathml sample). JPEG 2000: RGB, YBR_ICT and
/// YBR_RCT come out of the decoder as RGB; YBR_FULL is converted here.
pub(crate) fn decode_frame(
    data: &[u8],
    codec: FrameCodec,
    colour: FrameColour,
    (w, h): (u32, u32),
) -> Result<Chunk, String> {
    match codec {
        FrameCodec::Jpeg => decode_jpeg_frame(data, Photometric::YCbCr, (w, h)),
        FrameCodec::Jpeg2000 => {
            let space = if colour == FrameColour::YbrFull {
                J2kSpace::YCbCr
            } else {
                J2kSpace::Rgb
            };
            decode_jpeg2000(data, space, (w, h), h)
        }
        FrameCodec::Native { planar } => {
            let n = w as usize * h as usize;
            if data.len() != n * 3 {
                return Err(format!(
                    "frame holds {} bytes, {w}x{h} px of 3 samples need {}",
                    data.len(),
                    n * 3
                ));
            }
            let mut rgb = if planar {
                let (r, rest) = data.split_at(n);
                let (g, b) = rest.split_at(n);
                let mut out = Vec::with_capacity(n * 3);
                for i in 0..n {
                    out.extend_from_slice(&[r[i], g[i], b[i]]);
                }
                out
            } else {
                data.to_vec()
            };
            if colour == FrameColour::YbrFull {
                rgb.chunks_exact_mut(3).for_each(ybr_to_rgb);
            }
            Ok(Chunk {
                width: w,
                height: h,
                rgb,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ybr_full_grey_and_primaries() {
        let mut grey = [128, 128, 128];
        ybr_to_rgb(&mut grey);
        assert_eq!(grey, [128, 128, 128]);
        // Pure red in full-range YCbCr (JFIF): Y 76, Cb 85, Cr 255.
        let mut red = [76, 85, 255];
        ybr_to_rgb(&mut red);
        assert!(red[0] >= 253 && red[1] <= 2 && red[2] <= 2, "{red:?}");
    }

    #[test]
    fn planar_native_frames_are_interleaved() {
        let data = [1, 2, 10, 20, 100, 200];
        let c = decode_frame(
            &data,
            FrameCodec::Native { planar: true },
            FrameColour::Rgb,
            (2, 1),
        )
        .unwrap();
        assert_eq!(c.rgb, vec![1, 10, 100, 2, 20, 200]);
        let err = decode_frame(
            &data[..5],
            FrameCodec::Native { planar: false },
            FrameColour::Rgb,
            (2, 1),
        )
        .unwrap_err();
        assert!(err.contains("frame holds 5 bytes"), "{err}");
    }
}
