//! Writes level 0 of a slide (any format `mitocount` reads) as a PNG, for the training
//! data preparation (`training/prepare.py`), which reads pixels with Pillow.
//!
//! Usage: cargo run --release --example slide_png -- SLIDE OUT.png

use mitocount::slide::Slide;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(input), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: slide_png SLIDE OUT.png".into());
    };
    let slide = Slide::open(std::path::Path::new(&input))?;
    let l0 = &slide.levels()[0];
    let (w, h) = (u32::try_from(l0.width_px)?, u32::try_from(l0.height_px)?);
    let img = slide.read_region(0, 0, 0, w, h)?;
    img.save(&out)?;
    Ok(())
}
