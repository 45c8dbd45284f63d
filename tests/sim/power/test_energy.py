"""The energy table (data, with its source) and counters x table arithmetic."""

import numpy as np
import pytest

from secateurs.errors import ConfigError
from secateurs.sim.power.energy import energy, load_table
from secateurs.sim.power.measure import event_energy


def test_shipped_table_is_horowitz_45nm():
    table = load_table()
    assert "Horowitz" in table.citation and "45 nm" in table.process
    # The published figures the table is built from.
    assert table.pj["macs"] == 0.2  # 8-bit integer multiply
    assert table.pj["acc_updates"] == 0.1  # 32-bit integer add
    assert table.pj["weight_reads"] == 5.0  # 32-bit read of an 8 KB SRAM
    assert table.pj["queue_pushes"] == 1.0  # 32-bit register file (EIE, Table I)


def test_energy_is_counts_times_table():
    table = load_table()
    counts = {"macs": np.array([10, 20]), "weight_reads": np.array([3, 0]), "cycles": np.array([7, 7])}
    pj = energy(counts, table)
    assert set(pj) == {"macs", "weight_reads"}  # cycles are not priced
    np.testing.assert_allclose(pj["macs"], [2.0, 4.0])
    np.testing.assert_allclose(pj["weight_reads"], [15.0, 0.0])
    summary = event_energy(counts, table)
    assert summary["by_event"] == pytest.approx({"macs": 3.0, "weight_reads": 7.5})
    assert summary["total"] == pytest.approx(10.5)


def test_user_table_replaces_the_numbers(tmp_path):
    path = tmp_path / "7nm.toml"
    path.write_text('[source]\ncitation = "mine"\nprocess = "7 nm"\n[energy_pj]\nmacs = 0.01\n')
    table = load_table(path)
    assert table.pj == {"macs": 0.01} and table.process == "7 nm"


@pytest.mark.parametrize("text, message", [
    ("[energy_pj]\nmacs = -1\n", "non-negative"),
    ("[energy_pj]\nmacs = 'x'\n", "non-negative"),
    ("[source]\n", r"needs an \[energy_pj\]"),
    ("[energy_pj\n", "not valid TOML"),
])
def test_bad_tables_name_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_table(path)


def test_missing_table_is_a_user_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read energy table"):
        load_table(tmp_path / "absent.toml")
