"""The report: every table and plot from a summary, and the HTML checked in a real headless browser."""

import json
import shutil

import pytest
from selenium import webdriver

from secateurs.report import build, write_report

EVENTS = {"sparse": {"mac": 120.0, "weight read": 900.0, "activation read": 40.0},
          "dense": {"mac": 1500.0, "weight read": 9000.0, "activation read": 60.0}}
TOGGLES = {"sparse": {"pe": 5000.0, "control": 900.0}, "dense": {"pe": 41000.0, "control": 700.0}}


def summary() -> dict:
    sweep = [{"density": d, "pruned_accuracy": 0.96 - 0.1 * (0.1 - d) ** 2, "quantized_accuracy": 0.95,
              "compression_ratio": 1.2 / d, "theoretical_speedup": 1 / d, "realised_speedup": 1.05 / d}
             for d in (1.0, 0.5, 0.25, 0.1, 0.05)]
    layers = [{"layer": 0, "rows": 128, "cols": 64, "cycles_sparse": 800, "cycles_dense": 8200,
               "array_cycles_sparse": 700, "array_cycles_dense": 8100},
              {"layer": 1, "rows": 10, "cols": 128, "cycles_sparse": 90, "cycles_dense": 1300,
               "array_cycles_sparse": 80, "array_cycles_dense": 1290}]
    return {"name": "test", "dense_accuracy": 0.97, "pruned_accuracy": 0.955, "quantized_accuracy": 0.95,
            "hardware_accuracy": 0.95, "hardware_samples": 360, "density": 0.1, "compression_ratio": 14.2,
            "theoretical_speedup": 10.0, "cycles_sparse": 890, "cycles_dense": 9500,
            "expected_cycles_sparse": 890, "expected_cycles_dense": 9500, "realised_speedup": 10.67,
            "layers": layers, "density_sweep": sweep, "energy": EVENTS, "toggles": TOGGLES}


def test_every_plot_and_table_is_built():
    tables, figures = build(summary())
    assert [f.name for f in figures] == ["accuracy_vs_compression", "accuracy_vs_speedup",
                                         "realised_vs_theoretical", "layer_cycles", "energy", "toggles"]
    assert all(f.png.startswith(b"\x89PNG") for f in figures)
    energy = next(t for t in tables if t.title.startswith("Energy"))
    assert energy.rows[-1] == ("total", "1,060.0", "10,560.0")  # sums of EVENTS


def test_report_files(tmp_path):
    names = write_report(tmp_path, summary())
    md = (tmp_path / "report.md").read_text()
    for name in names:
        assert (tmp_path / f"{name}.png").exists()
        assert f"({name}.png)" in md
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(names)
    assert "src='http" not in html  # self-contained


@pytest.mark.browser
def test_report_in_headless_chromium(tmp_path):
    """Loads without console errors, every plot decodes and is visible; a screenshot is kept."""
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "Debian chromium and chromium-driver are installed by `make test`"
    write_report(tmp_path, summary())
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync", "--window-size=1100,2400", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(driver_path))
    try:
        driver.get((tmp_path / "report.html").as_uri())
        images = driver.execute_script(
            "return [...document.images].map(i => [i.complete, i.naturalWidth, i.getBoundingClientRect().height])")
        assert len(images) == 6
        assert all(done and width > 100 and height > 50 for done, width, height in images), images
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, json.dumps(errors)
        assert driver.title.startswith("secateurs")
        driver.save_screenshot(str(tmp_path / "report.png"))
    finally:
        driver.quit()
    assert (tmp_path / "report.png").read_bytes().startswith(b"\x89PNG")
