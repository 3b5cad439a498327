//! The learned mitosis classifier: the embedded model is the one its card describes, the
//! Rust forward pass reproduces PyTorch's, real patches score on the right side, and bad
//! model files are clear errors.

use std::path::Path;
use std::process::Command;

use mitocount::detect::cnn::{Classifier, Scratch};
use mitocount::error::Error;

const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/model");
const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/models/mitosis-cnn.safetensors"
);
const CARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/README.md");

fn mitocount() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mitocount"))
}

fn reference() -> (serde_json::Value, Vec<u8>) {
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(Path::new(REFERENCE).join("reference.json")).unwrap(),
    )
    .unwrap();
    let pixels = std::fs::read(Path::new(REFERENCE).join("reference.u8")).unwrap();
    (json, pixels)
}

#[test]
fn embedded_model_is_the_file_in_models_with_the_cards_sha256() {
    let c = Classifier::embedded().unwrap();
    let bytes = std::fs::read(MODEL).unwrap();
    let file = Classifier::from_bytes(&bytes, Path::new(MODEL), "file").unwrap();
    assert_eq!(c.info().sha256, file.info().sha256);
    let card = std::fs::read_to_string(CARD).unwrap();
    assert!(
        card.contains(&c.info().sha256),
        "models/README.md must state the SHA-256 {}",
        c.info().sha256
    );
    let (json, _) = reference();
    assert_eq!(json["sha256"].as_str().unwrap(), c.info().sha256);
    assert!((json["threshold"].as_f64().unwrap() - c.info().threshold).abs() < 1e-9);
}

#[test]
fn forward_pass_reproduces_pytorch_and_real_patches_score_on_their_side() {
    let c = Classifier::embedded().unwrap();
    let (json, pixels) = reference();
    let side = c.input_px();
    let want = json["probabilities"].as_array().unwrap();
    let labels = json["labels"].as_array().unwrap();
    assert_eq!(pixels.len(), want.len() * side * side * 3);
    let (mut scratch, mut input) = (Scratch::default(), Vec::new());
    let t = c.info().threshold;
    let (mut pos_called, mut neg_called, mut pos, mut neg) = (0, 0, 0, 0);
    let (mut pos_sum, mut neg_sum) = (0.0, 0.0);
    for (i, (w, l)) in want.iter().zip(labels).enumerate() {
        let patch = &pixels[i * side * side * 3..(i + 1) * side * side * 3];
        let p = c.probability(patch, &mut scratch, &mut input);
        let w = w.as_f64().unwrap();
        assert!((p - w).abs() < 1e-4, "patch {i}: Rust {p} vs PyTorch {w}");
        if l.as_u64().unwrap() == 1 {
            pos += 1;
            pos_called += usize::from(p >= t);
            pos_sum += p;
        } else {
            neg += 1;
            neg_called += usize::from(p >= t);
            neg_sum += p;
        }
    }
    assert!(pos >= 8 && neg >= 8);
    // Real tune-split crops (never trained on), 4 from each dataset: the centre mitosis
    // and other nuclei of a crop. The model's tune recall is about 0.87 (0.81 on the
    // breast crops) and it calls about 1.5 % of crop nuclei, so on 8 + 8 patches: at
    // least 5 mitoses called, no nucleus called, and far apart on average.
    assert!(pos_called >= 5, "{pos_called} of {pos} mitoses called");
    assert_eq!(neg_called, 0, "{neg_called} of {neg} nuclei called");
    assert!(pos_sum / pos as f64 - neg_sum / neg as f64 > 0.5);
}

#[test]
fn result_does_not_depend_on_what_was_scored_before() {
    let c = Classifier::embedded().unwrap();
    let (_, pixels) = reference();
    let n = c.input_px() * c.input_px() * 3;
    let (mut s1, mut i1) = (Scratch::default(), Vec::new());
    let first = c.probability(&pixels[..n], &mut s1, &mut i1);
    for k in 1..4 {
        c.probability(&pixels[k * n..(k + 1) * n], &mut s1, &mut i1);
    }
    let again = c.probability(&pixels[..n], &mut s1, &mut i1);
    assert_eq!(first.to_bits(), again.to_bits());
}

fn model_error(bytes: &[u8]) -> String {
    match Classifier::from_bytes(bytes, Path::new("bad.safetensors"), "test") {
        Err(e @ Error::Model { .. }) => e.to_string(),
        Err(e) => panic!("wrong error kind: {e}"),
        Ok(_) => panic!("a bad model loaded"),
    }
}

#[test]
fn bad_model_files_are_clear_errors() {
    let good = std::fs::read(MODEL).unwrap();
    // Truncated anywhere: header, tensors.
    for cut in [0, 4, 8, 100, good.len() / 2, good.len() - 1] {
        let msg = model_error(&good[..cut]);
        assert!(msg.contains("bad.safetensors"), "{msg}");
    }
    // Not a safetensors file at all.
    assert!(model_error(b"ONNX\x00\x01garbage that is not a model").contains("safetensors"));
    // A safetensors file of another kind: rewrite the header's format name.
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(good[8..8 + header_len].to_vec()).unwrap();
    let swap = |from: &str, to: &str| {
        assert_eq!(from.len(), to.len());
        let mut b = good.clone();
        let h = header.replacen(from, to, 1);
        b[8..8 + header_len].copy_from_slice(h.as_bytes());
        b
    };
    assert!(model_error(&swap("mitocount-cnn", "someother-cnn")).contains("unknown format"));
    // Wrong shape: claim fewer input channels for the first convolution.
    let shape = "\"conv0.weight\":{\"dtype\":\"F32\",\"shape\":[";
    let at = header.find(shape).unwrap() + shape.len();
    let rest = &header[at..];
    let end = rest.find(']').unwrap();
    let dims: Vec<usize> = rest[..end].split(',').map(|d| d.parse().unwrap()).collect();
    // [out, 3, 3, 3] -> [out, 3, 9, 1] keeps the byte count, breaks the layout.
    let old = format!("{},3,3,3", dims[0]);
    let new = format!("{},3,9,1", dims[0]);
    let msg = model_error(&swap(&old, &new));
    assert!(msg.contains("shape"), "{msg}");
}

#[test]
fn count_with_a_missing_or_corrupt_model_exits_1_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.safetensors");
    std::fs::write(
        &corrupt,
        b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ",
    )
    .unwrap();
    let slide = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_tiles/CMU-1-Small-Region.svs"
    );
    for model in [dir.path().join("missing.safetensors"), corrupt] {
        let out = mitocount()
            .args(["count", slide, "--no-images", "-q", "--out"])
            .arg(dir.path().join("out"))
            .arg("--model")
            .arg(&model)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&*model.to_string_lossy()), "{stderr}");
        assert!(stderr.contains("mitosis model"), "{stderr}");
        assert!(!dir.path().join("out/report.json").exists());
    }
}

#[test]
fn info_model_shows_name_and_sha256() {
    let out = mitocount()
        .args(["info", "--model", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = Classifier::embedded().unwrap();
    assert_eq!(v["sha256"].as_str().unwrap(), c.info().sha256);
    assert_eq!(v["name"].as_str().unwrap(), "mitosis-cnn");
    let out = mitocount()
        .args(["info", "--model", MODEL])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&c.info().sha256));
}

/// The model file with its JSON header rewritten by `edit` (tensor data unchanged; the
/// header's length prefix follows the new header).
fn with_header(good: &[u8], edit: impl Fn(&str) -> String) -> Vec<u8> {
    let len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&good[8..8 + len]).unwrap();
    let mut h = edit(header).into_bytes();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&good[8 + len..]);
    out
}

#[test]
fn screen_reproduces_pytorch_and_passes_the_reference_mitoses() {
    let c = Classifier::embedded().unwrap();
    let screen = c
        .info()
        .screen
        .clone()
        .expect("the shipped model is a cascade with a screen (training/screen.py)");
    let (json, _) = reference();
    let pixels = std::fs::read(Path::new(REFERENCE).join("reference_screen.u8")).unwrap();
    let side = screen.input_px;
    assert_eq!(json["screen_input_px"].as_u64().unwrap() as usize, side);
    let want = json["screen_probabilities"].as_array().unwrap();
    let labels = json["labels"].as_array().unwrap();
    assert_eq!(pixels.len(), want.len() * side * side * 3);
    let (mut scratch, mut input) = (Scratch::default(), Vec::new());
    let mut passed_mitoses = 0;
    for (i, (w, l)) in want.iter().zip(labels).enumerate() {
        let patch = &pixels[i * side * side * 3..(i + 1) * side * side * 3];
        let p = c
            .screen_probability(patch, &mut scratch, &mut input)
            .unwrap();
        let w = w.as_f64().unwrap();
        assert!((p - w).abs() < 1e-4, "patch {i}: Rust {p} vs PyTorch {w}");
        if l.as_u64().unwrap() == 1 {
            passed_mitoses += usize::from(p >= screen.threshold);
        }
    }
    // The screen's threshold passes 99.5 % of the tune split's mitoses: of these 8 real
    // tune mitoses, at least 7.
    assert!(passed_mitoses >= 7, "{passed_mitoses} of 8 mitoses passed");
    assert!(screen.threshold <= c.info().threshold);
    assert!(screen.multiply_adds * 10 < c.info().multiply_adds);
}

#[test]
fn averaged_views_do_not_depend_on_how_the_patch_is_turned() {
    let c = Classifier::embedded().unwrap();
    assert_eq!(c.info().views, 8);
    let (json, pixels) = reference();
    let side = c.input_px();
    let (mut scratch, mut input) = (Scratch::default(), Vec::new());
    // Views are averaged for patches whose own probability reaches views_from: clear
    // mitoses, whose every turn scores far above it.
    let clear: Vec<usize> = json["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, p)| p.as_f64().unwrap() > 0.9)
        .map(|(i, _)| i)
        .collect();
    assert!(clear.len() >= 2, "{clear:?}");
    for i in clear {
        let patch = &pixels[i * side * side * 3..(i + 1) * side * side * 3];
        // Turned by 90°: row y, column x of the turned patch is row x, column side-1-y.
        let mut turned = Vec::with_capacity(patch.len());
        for y in 0..side {
            for x in 0..side {
                let at = (x * side + (side - 1 - y)) * 3;
                turned.extend_from_slice(&patch[at..at + 3]);
            }
        }
        let a = c.probability(patch, &mut scratch, &mut input);
        let b = c.probability(&turned, &mut scratch, &mut input);
        assert!((a - b).abs() < 1e-5, "patch {i}: {a} vs turned {b}");
    }
}

#[test]
fn format_1_reads_the_main_network_alone_and_a_screen_above_the_threshold_is_refused() {
    let good = std::fs::read(MODEL).unwrap();
    let v1 = with_header(&good, |h| {
        h.replacen("\"format_version\":\"2\"", "\"format_version\":\"1\"", 1)
    });
    let c = Classifier::from_bytes(&v1, Path::new("v1.safetensors"), "test").unwrap();
    assert_eq!(c.info().views, 1);
    assert!(c.info().screen.is_none());
    let thr = Classifier::embedded().unwrap().info().threshold;
    let high = with_header(&good, |h| {
        let key = "\"screen_threshold\":\"";
        let at = h.find(key).unwrap() + key.len();
        let end = at + h[at..].find('"').unwrap();
        format!("{}{}{}", &h[..at], thr + 0.01, &h[end..])
    });
    let msg = model_error(&high);
    assert!(msg.contains("screen threshold"), "{msg}");
    let bad_views = with_header(&good, |h| {
        h.replacen("\"tta_views\":\"8\"", "\"tta_views\":\"3\"", 1)
    });
    assert!(model_error(&bad_views).contains("tta_views"));
    let no_screen_tensor = with_header(&good, |h| {
        h.replacen("\"screen.fc.bias\"", "\"screen.fc.bia_\"", 1)
    });
    assert!(model_error(&no_screen_tensor).contains("screen.fc.bias"));
}

/// The embedded model rewritten with its second network replaced: `second` maps each of
/// the main network's tensor names (`conv0.weight`, ...) to the name whose data the
/// second network takes for it (`None`: the model without a second network).
fn with_second(second: Option<&dyn Fn(&str) -> String>) -> Vec<u8> {
    use safetensors::tensor::{SafeTensors, TensorView};
    let good = std::fs::read(MODEL).unwrap();
    let st = SafeTensors::deserialize(&good).unwrap();
    let (_, header) = SafeTensors::read_metadata(&good).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    meta.remove("second_layers");
    let mut tensors: Vec<(String, TensorView)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| !n.starts_with("second."))
        .collect();
    if let Some(source) = second {
        meta.insert("second_layers".into(), meta["layers"].clone());
        let main: Vec<String> = tensors
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| !n.contains('.') || n.starts_with("conv") || n.starts_with("fc."))
            .collect();
        for name in main {
            tensors.push((format!("second.{name}"), st.tensor(&source(&name)).unwrap()));
        }
    }
    safetensors::serialize(tensors, Some(meta)).unwrap()
}

#[test]
fn a_second_network_is_averaged_in_where_the_views_are() {
    // A second network equal to the main one: the ensemble scores as the main network alone.
    let alone = Classifier::from_bytes(&with_second(None), Path::new("alone"), "test").unwrap();
    let same = |n: &str| n.to_string();
    let twice =
        Classifier::from_bytes(&with_second(Some(&same)), Path::new("twice"), "test").unwrap();
    assert!(alone.info().second_multiply_adds.is_none());
    assert_eq!(
        twice.info().second_multiply_adds,
        Some(alone.info().multiply_adds)
    );
    let (_, pixels) = reference();
    let n = alone.input_px() * alone.input_px() * 3;
    let (mut scratch, mut input) = (Scratch::default(), Vec::new());
    let mut averaged = 0;
    for patch in pixels.chunks_exact(n) {
        let a = alone.probability(patch, &mut scratch, &mut input);
        let b = twice.probability(patch, &mut scratch, &mut input);
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        averaged += usize::from(a >= alone.info().views_from);
    }
    assert!(
        averaged >= 4,
        "only {averaged} reference patches reach the views"
    );
    // Its tensors are checked like the main network's: a misshapen one is named.
    let swap = |n: &str| {
        if n == "fc.weight" {
            "conv0.bias".to_string()
        } else {
            n.to_string()
        }
    };
    let msg = model_error(&with_second(Some(&swap)));
    assert!(msg.contains("second.fc.weight"), "{msg}");
}
