"""The command line, run as a user runs it: ``python -m nn_core ...``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nn_core.config import NetworkConfig
from nn_core.model.network import Network
from nn_core.storage.network_file import Metadata, load_network, save_network

REPO_ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "nn_core", *args], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300, env=os.environ.copy())
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}: {result.stderr}")
    return result


def assert_clean_failure(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert message in lines[0]


@pytest.fixture(scope="module")
def tiny_network(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("nets") / "tiny.npz"
    save_network(path, Network(NetworkConfig(layers=(784, 8, 10))), Metadata.new("tiny"))
    return path


def digit_png(tmp_path: Path, mnist_image: np.ndarray, name: str) -> Path:
    """An MNIST digit drawn big on a 280×280 black canvas, as a user's PNG."""
    canvas = np.zeros((280, 280), np.uint8)
    canvas[40:250, 60:270] = np.asarray(Image.fromarray(mnist_image.reshape(28, 28)).resize((210, 210)))
    path = tmp_path / name
    Image.fromarray(canvas).save(path)
    return path


def test_help_everywhere():
    for command in ([], ["download"], ["train"], ["evaluate"], ["predict"], ["info"]):
        result = cli(*command, "--help")
        assert "usage: python -m nn_core" in result.stdout


def test_train_saves_a_network_and_prints_json(mnist, tmp_path):
    out = tmp_path / "quick.npz"
    result = cli("train", "--layers", "784,32,10", "--optimizer", "adam", "--lr", "0.002",
                 "--epochs", "1", "--seed", "7", "--out", str(out), "--json")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) == {"test_accuracy", "seconds", "samples_per_second", "out"}
    assert summary["test_accuracy"] > 0.9 and summary["out"] == str(out)
    assert "epoch   1/1" in result.stderr
    assert ", 1 epoch\n" in result.stderr and "1 epochs" not in result.stderr
    info = json.loads(cli("info", str(out), "--json").stdout)
    assert info["architecture"] == "784-32-10 relu"
    assert info["test_accuracy"] == summary["test_accuracy"]
    assert info["command"].startswith("python -m nn_core train --layers 784,32,10")
    evaluation = json.loads(cli("evaluate", "--network", str(out), "--json").stdout)
    confusion = np.array(evaluation["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 10000
    assert evaluation["test_accuracy"] == pytest.approx(summary["test_accuracy"])
    again = cli("train", "--layers", "784,32,10", "--epochs", "1", "--out", str(out), check=False)
    assert_clean_failure(again, "already exists")


def test_train_with_extra_labelled_images(mnist, tmp_path):
    extra = tmp_path / "drawings.npz"
    np.savez(extra, images=mnist.test_images[:50].reshape(-1, 28, 28), labels=mnist.test_labels[:50])
    out = tmp_path / "extra.npz"
    result = cli("train", "--layers", "784,16,10", "--epochs", "1", "--extra-data", str(extra),
                 "--out", str(out))
    assert "on 60,050 images" in result.stdout
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((3, 28, 28), np.float32), labels=np.zeros(3, np.int64))
    assert_clean_failure(cli("train", "--epochs", "1", "--extra-data", str(bad), "--out",
                             str(tmp_path / "y.npz"), check=False), "uint8")
    empty = tmp_path / "empty.npz"
    np.savez(empty, images=np.zeros((0, 28, 28), np.uint8), labels=np.zeros(0, np.int64))
    assert_clean_failure(cli("train", "--epochs", "1", "--extra-data", str(empty), "--out",
                             str(tmp_path / "e.npz"), check=False), "N ≥ 1")


def test_extra_data_that_is_not_plain_arrays_says_what_the_file_must_be(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("remember the milk")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, images=np.array([object()], dtype=object), labels=np.zeros(1, np.int64))
    unnamed = tmp_path / "unnamed.npz"
    np.savez(unnamed, np.zeros((2, 28, 28), np.uint8))
    for path, problem in ((notes, "not an .npz archive"), (pickled, "its arrays hold Python objects, which are never loaded"),
                          (unnamed, "holds arr_0, not both 'images' and 'labels'")):
        result = cli("train", "--epochs", "1", "--extra-data", str(path), "--out", str(tmp_path / "z.npz"),
                     check=False)
        assert_clean_failure(result, f"--extra-data {path}: {problem}")
        assert "uint8 'images' (N, 28, 28)" in result.stderr
        assert "allow_pickle" not in result.stderr


def test_evaluate_prints_a_readable_report(mnist):
    result = cli("evaluate")
    assert "test accuracy" in result.stdout and "confusion matrix" in result.stdout
    assert "per-class accuracy" in result.stdout


def test_predict_json_with_the_default_network(mnist, tmp_path):
    files = [digit_png(tmp_path, mnist.test_images[i], f"digit{i}.png") for i in range(8)]
    blank = tmp_path / "blank.png"
    Image.new("L", (280, 280)).save(blank)
    result = cli("predict", *map(str, files), str(blank), "--json")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["file"] for r in records] == [str(f) for f in files] + [str(blank)]
    predictions = [r["prediction"] for r in records[:-1]]
    assert sum(p == int(mnist.test_labels[i]) for i, p in enumerate(predictions)) >= 7
    assert all(len(r["probabilities"]) == 10 and abs(sum(r["probabilities"]) - 1) < 1e-3
               for r in records[:-1])
    assert records[-1]["prediction"] is None and records[-1]["empty"] is True
    assert {r["source"] for r in records} == {"canvas"}  # MNIST digits and a blank: one exact background
    forced = [json.loads(line) for line in cli("predict", str(files[0]), "--json", "--source", "photo")
              .stdout.splitlines()]
    assert forced[0]["source"] == "photo" and forced[0]["prediction"] == records[0]["prediction"]
    plain = cli("predict", str(files[0]), str(blank))
    assert "nothing drawn" in plain.stdout


def test_threads_option_sizes_the_blas_pool(tiny_network):
    assert "tiny" in cli("--threads", "1", "info", str(tiny_network)).stdout
    probe = ("import os, runpy, sys; sys.argv = ['nn_core', '--threads', '1', '--help'];\n"
             "try: runpy.run_module('nn_core', run_name='__main__')\n"
             "except SystemExit: print(os.environ['OPENBLAS_NUM_THREADS'])")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "1"


def test_bad_input_gives_one_line_errors(tmp_path, tiny_network):
    assert_clean_failure(cli("info", str(tmp_path / "missing.npz"), check=False), "no such network file")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 definitely not a real archive")
    assert_clean_failure(cli("info", str(corrupt), check=False), "npz")
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is not an image")
    assert_clean_failure(cli("predict", str(not_image), "--network", str(tiny_network), check=False),
                         "notes.png")
    assert_clean_failure(cli("predict", "nowhere.png", "--network", str(tiny_network), check=False),
                         "nowhere.png")
    assert_clean_failure(cli("train", "--layers", "784,abc,10", "--out", str(tmp_path / "x.npz"),
                             check=False), "--layers")
    assert_clean_failure(cli("train", "--layers", "784,10,9", "--out", str(tmp_path / "x.npz"),
                             check=False), "end at 10")


def test_download_reports_existing_data(mnist):
    result = cli("download")
    assert "already" in result.stdout


def test_out_into_a_missing_folder_creates_it_and_says_so(mnist, tmp_path):
    out = tmp_path / "new" / "folder" / "net.npz"
    result = cli("train", "--layers", "784,8,10", "--epochs", "1", "--batch-size", "1000", "--out", str(out))
    assert out.is_file()
    assert f"created the folder {out.parent} for net.npz" in result.stdout


def test_info_prints_numbers_for_people(tiny_network, tmp_path):
    bundled = cli("info", str(REPO_ROOT / "saved_networks" / "default.npz")).stdout
    assert "parameters: 454,922" in bundled and "test_accuracy: 99.59%" in bundled
    assert "resumable: yes" in bundled
    assert "test_accuracy: not measured" in cli("info", str(tiny_network)).stdout
    assert json.loads(cli("info", str(tiny_network), "--json").stdout)["parameters"] == 6370


def test_network_file_errors_name_the_file(tmp_path):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 definitely not a real archive")
    for command in (["info", str(corrupt)], ["evaluate", "--network", str(corrupt)],
                    ["train", "--resume", str(corrupt), "--epochs", "1"]):
        assert_clean_failure(cli(*command, check=False), f"error: {corrupt}: ")


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_two_epochs_equal_one_then_one_more_resumed(mnist, tmp_path, optimizer):
    """Same seed, constant learning rate: the resumed run ends on the very same weights."""
    settings = ["--layers", "784,16,10", "--optimizer", optimizer, "--lr", "0.01", "--batch-size", "500",
                "--seed", "3"]
    cli("train", *settings, "--epochs", "2", "--out", str(tmp_path / "two.npz"))
    cli("train", *settings, "--epochs", "1", "--out", str(tmp_path / "one.npz"))
    result = cli("train", "--resume", str(tmp_path / "one.npz"), "--epochs", "1", "--out",
                 str(tmp_path / "resumed.npz"))
    assert "after 1 epoch: 1 more epoch on 60,000 images" in result.stdout
    assert "epoch   2/2" in result.stdout
    two, resumed = load_network(tmp_path / "two.npz"), load_network(tmp_path / "resumed.npz")
    for (name, expected), found in zip(two[0].state_dict().items(), resumed[0].state_dict().values()):
        assert np.array_equal(expected, found), name
    assert resumed[1].history == two[1].history | {"time": resumed[1].history["time"],
                                                    "eval_time": resumed[1].history["eval_time"]}
    info = cli("info", str(tmp_path / "resumed.npz")).stdout
    assert "resumable: yes" in info and "after 2 epochs (240 batches)" in info
    assert "&& python -m nn_core train --resume" in info


def test_init_from_fine_tunes_a_saved_network_from_its_weights(mnist, tiny_network, tmp_path):
    start, _ = load_network(tiny_network)
    out = tmp_path / "tuned.npz"
    cli("train", "--init-from", str(tiny_network), "--optimizer", "sgd", "--lr", "1e-6",
        "--batch-size", "1000", "--epochs", "1", "--out", str(out))
    tuned, metadata = load_network(out)
    assert tuned.config.layers == start.config.layers
    for (name, before), after in zip(start.state_dict().items(), tuned.state_dict().values()):
        assert not np.array_equal(before, after), name
        assert np.allclose(before, after, atol=1e-3), name
    assert f"--init-from {tiny_network}" in metadata.command
    again = tmp_path / "again.npz"
    cli("train", "--init-from", str(out), "--optimizer", "sgd", "--lr", "1e-6", "--batch-size", "1000",
        "--epochs", "1", "--out", str(again))
    assert load_network(again)[1].command == f"{metadata.command} && python -m nn_core train --init-from {out} " \
        f"--optimizer sgd --lr 1e-6 --batch-size 1000 --epochs 1 --out {again}"


def test_init_from_refuses_a_new_shape_and_resume(tiny_network, tmp_path):
    out = str(tmp_path / "x.npz")
    assert_clean_failure(cli("train", "--init-from", str(tiny_network), "--layers", "cnn", "--out", out,
                             check=False), "drop --layers")
    assert_clean_failure(cli("train", "--init-from", str(tiny_network), "--resume", str(tiny_network),
                             "--out", out, check=False), "pass only one of them")


def test_resume_refuses_files_without_a_run_and_new_settings(tiny_network, tmp_path):
    assert_clean_failure(cli("train", "--resume", str(tiny_network), "--epochs", "1", check=False),
                         "holds no training state to resume")
    assert_clean_failure(cli("train", "--resume", str(tiny_network), "--lr", "0.1", check=False),
                         "drop --lr")
