//! JPEG tiles for TIFF compression 7 with shared tables, as Aperio scanners write them.
//!
//! Each tile is encoded as a baseline JPEG in YCbCr with 4:2:0 chroma subsampling (the
//! `jpeg-encoder` crate; fixed quality and the standard Huffman tables of ITU T.81 Annex
//! K, so the tables are the same for every tile). The stream is then split: the DQT and
//! DHT segments go once into the TIFF `JPEGTables` tag as an "abbreviated table
//! specification" (SOI, tables, EOI), and each tile keeps an "abbreviated image" (SOI,
//! SOF0, SOS with its entropy-coded data, EOI). This is the layout of TIFF Technical Note
//! 2 (1995, "new-style" JPEG in TIFF) that libtiff reads: it primes the decoder with
//! `JPEGTables`, then decodes each tile. The JFIF APP0 segment is dropped, since TIFF
//! carries the colour space in `PhotometricInterpretation` (6, YCbCr) and
//! `YCbCrSubsampling` (2, 2).

use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, SamplingFactor};

/// JPEG markers used in splitting.
const SOI: u8 = 0xd8;
const EOI: u8 = 0xd9;
const SOS: u8 = 0xda;
const DQT: u8 = 0xdb;
const DHT: u8 = 0xc4;

/// Encodes RGB tiles to abbreviated JPEG streams sharing one set of tables.
#[derive(Debug, Clone)]
pub(crate) struct JpegTileEncoder {
    quality: u8,
    tables: Vec<u8>,
}

impl JpegTileEncoder {
    /// An encoder at `quality` (1 to 100) for square tiles of `tile_px`; the shared
    /// tables are taken from encoding a blank tile.
    ///
    /// # Errors
    /// A message when encoding or splitting fails.
    pub(crate) fn new(quality: u8, tile_px: u32) -> Result<Self, String> {
        let blank = vec![255u8; tile_px as usize * tile_px as usize * 3];
        let full = encode_full(&blank, tile_px, tile_px, quality)?;
        let (tables, _) = split(&full)?;
        Ok(JpegTileEncoder { quality, tables })
    }

    /// The shared tables (SOI, DQT, DHT, EOI) for the `JPEGTables` tag.
    pub(crate) fn tables(&self) -> &[u8] {
        &self.tables
    }

    /// Encodes an RGB8 tile (`width` x `height`, row-major) to an abbreviated stream.
    ///
    /// # Errors
    /// A message when encoding fails or the tile's tables differ from the shared ones
    /// (which would make the TIFF undecodable).
    pub(crate) fn encode(&self, rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
        let full = encode_full(rgb, width, height, self.quality)?;
        let (tables, tile) = split(&full)?;
        if tables != self.tables {
            return Err("JPEG tables differ between tiles; cannot share JPEGTables".into());
        }
        Ok(tile)
    }
}

/// A complete baseline JPEG of an RGB8 image, YCbCr 4:2:0, box-averaged chroma.
fn encode_full(rgb: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>, String> {
    let w = u16::try_from(width).map_err(|_| format!("tile width {width} too large for JPEG"))?;
    let h =
        u16::try_from(height).map_err(|_| format!("tile height {height} too large for JPEG"))?;
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let mut enc = Encoder::new(&mut out, quality);
    enc.set_sampling_factor(SamplingFactor::R_4_2_0);
    enc.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    enc.encode(rgb, w, h, ColorType::Rgb)
        .map_err(|e| format!("JPEG encoding failed: {e}"))?;
    Ok(out)
}

/// Splits a complete JPEG stream into (tables-only stream, abbreviated image stream).
///
/// # Errors
/// A message when the stream is not a well-formed baseline JPEG.
pub(crate) fn split(stream: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    if stream.len() < 4 || stream[0] != 0xff || stream[1] != SOI {
        return Err("JPEG stream does not start with SOI".into());
    }
    let mut tables = vec![0xff, SOI];
    let mut image = vec![0xff, SOI];
    let mut at = 2;
    loop {
        if at + 4 > stream.len() || stream[at] != 0xff {
            return Err(format!("JPEG stream: no marker at byte {at}"));
        }
        let marker = stream[at + 1];
        let len = usize::from(u16::from_be_bytes([stream[at + 2], stream[at + 3]]));
        let end = at + 2 + len;
        if len < 2 || end > stream.len() {
            return Err(format!("JPEG stream: bad segment length at byte {at}"));
        }
        match marker {
            // Scan header, entropy-coded data and EOI: the rest of the stream.
            SOS => {
                image.extend_from_slice(&stream[at..]);
                break;
            }
            DQT | DHT => tables.extend_from_slice(&stream[at..end]),
            // APPn (JFIF and others) carry nothing TIFF needs.
            0xe0..=0xef => {}
            _ => image.extend_from_slice(&stream[at..end]),
        }
        at = end;
    }
    if image.len() < 2 || image[image.len() - 2..] != [0xff, EOI] {
        return Err("JPEG stream does not end with EOI".into());
    }
    tables.extend_from_slice(&[0xff, EOI]);
    Ok((tables, image))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn markers(stream: &[u8]) -> Vec<u8> {
        // Markers of the header segments (up to and including SOS).
        let mut out = vec![stream[1]];
        let mut at = 2;
        while at + 2 <= stream.len() {
            let m = stream[at + 1];
            out.push(m);
            if m == SOS || m == EOI || at + 4 > stream.len() {
                break;
            }
            let len = usize::from(u16::from_be_bytes([stream[at + 2], stream[at + 3]]));
            at += 2 + len;
        }
        out
    }

    fn gradient(w: u32, h: u32) -> Vec<u8> {
        (0..h)
            .flat_map(|y| {
                (0..w).flat_map(move |x| [(x * 4) as u8, (y * 4) as u8, ((x + y) * 2) as u8])
            })
            .collect()
    }

    #[test]
    fn split_streams_have_the_right_segments() {
        let enc = JpegTileEncoder::new(80, 64).unwrap();
        let t = enc.tables();
        assert_eq!(markers(t), vec![SOI, DQT, DQT, DHT, DHT, DHT, DHT, EOI]);
        let tile = enc.encode(&gradient(64, 64), 64, 64).unwrap();
        assert_eq!(markers(&tile), vec![SOI, 0xc0, SOS]);
        assert_eq!(&tile[tile.len() - 2..], &[0xff, EOI]);
        // SOF0 says 3 components, luma sampled 2x2 and chroma 1x1 (4:2:0).
        let sof = &tile[2..];
        assert_eq!(sof[9], 3);
        assert_eq!(sof[11], 0x22);
        assert_eq!(sof[14], 0x11);
        assert_eq!(sof[17], 0x11);
    }

    #[test]
    fn tables_plus_tile_decode_back() {
        let enc = JpegTileEncoder::new(90, 64).unwrap();
        let rgb = gradient(64, 64);
        let tile = enc.encode(&rgb, 64, 64).unwrap();
        // Reassemble a full stream: tables without EOI, then the tile without SOI.
        let t = enc.tables();
        let mut full = t[..t.len() - 2].to_vec();
        full.extend_from_slice(&tile[2..]);
        let img = image::load_from_memory_with_format(&full, image::ImageFormat::Jpeg)
            .unwrap()
            .to_rgb8();
        assert_eq!(img.dimensions(), (64, 64));
        let mean_err = img
            .as_raw()
            .iter()
            .zip(&rgb)
            .map(|(&a, &b)| (i32::from(a) - i32::from(b)).unsigned_abs() as f64)
            .sum::<f64>()
            / rgb.len() as f64;
        assert!(mean_err < 3.0, "{mean_err}");
    }

    #[test]
    fn bad_streams_are_errors() {
        assert!(split(&[0, 1, 2, 3]).is_err());
        assert!(split(&[0xff, SOI, 0xff, DQT, 0xff, 0xff]).is_err());
        assert!(split(&[0xff, SOI, 0xff]).is_err());
    }
}
