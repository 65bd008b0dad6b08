"""benchmarks/scorer_fidelity.py: stratified students, rank statistics and regret, and the script end to
end at toy size on a toy GTN benchmark."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _helpers import load_benchmark

ROOT = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def fid():
    return load_benchmark("scorer_fidelity")


def test_students_cover_the_flops_range(fid) -> None:
    from autogtkd.space import create_space

    space = create_space("mbv3-cifar")
    archs = fid.stratified_students(space, 8, seed=0)
    assert len(set(archs)) == 8
    logf = np.log([space.flops(a) for a in archs])
    lo, hi = np.log(space.flops(space.smallest())), np.log(space.flops(space.largest()))
    # one student per eighth of the log-FLOPs range of uniform samples (which covers ~60 % of the space's)
    assert (logf.max() - logf.min()) > 0.5 * (hi - lo)
    assert np.all(np.diff(logf) > 0)  # bin by bin, in order
    assert fid.stratified_students(space, 8, seed=0) == archs  # seeded


def test_rank_stats_and_regret_golden(fid) -> None:
    truth = [1.0, 2.0, 3.0, 4.0, 5.0]
    st = fid.rank_stats([10, 20, 30, 50, 40], truth, resamples=200)
    assert st["kendall_tau"] == pytest.approx(0.8)  # 9 concordant, 1 discordant pair of 10
    assert st["spearman"] == pytest.approx(0.9)  # 1 - 6*2/(5*24)
    assert st["ci95"][0] <= st["kendall_tau"] <= st["ci95"][1] <= 1.0
    flops = [1, 2, 3, 4, 5]
    score = [0.5, 0.9, 0.1, 0.2, 0.3]  # picks the 2-FLOPs student under every budget >= 2
    r = fid.regrets(flops, score, truth)
    assert [x["budget_mflops"] * 1e6 for x in r] == pytest.approx([2.0, 3.0, 4.0])
    assert [x["regret"] for x in r] == pytest.approx([0.0, 1.0, 2.0])
    # re-scoring the top 2 under each budget: a second score that knows better moves the pick
    rescore = [0.0, 0.0, 9.0, 9.0, 9.0]  # prefers the 3-, 4- and 5-FLOPs students
    r2 = fid.regrets(flops, score, truth, rescore=rescore, top=2)  # top 2 by score: the 2- and 1-FLOPs ones
    assert [x["regret"] for x in r2] == pytest.approx([0.0, 1.0, 2.0])
    r3 = fid.regrets(flops, score, truth, rescore=rescore, top=3)  # top 3 under 3 and 4 FLOPs hold the best
    assert [x["regret"] for x in r3] == pytest.approx([0.0, 0.0, 0.0])
    assert fid.regrets(flops, score, truth, rescore=rescore, top=1) == r  # K = 1 is the pick itself


@pytest.mark.slow  # a toy GTN benchmark, then the fidelity script on it (CI runs it: .ci/run)
def test_fidelity_script_end_to_end(tmp_path: Path, write_cifar10) -> None:
    write_cifar10(tmp_path / "data" / "cifar-10-batches-py", per_batch=40)
    bench = tmp_path / "bench"
    r = subprocess.run([sys.executable, str(ROOT / "gtn_vs_vanilla.py"), "--preset", "toy", "--seeds", "1",
                        "--data-dir", str(tmp_path / "data"), "--out", str(bench), "--jobs", "0"],
                       capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    cmd = [sys.executable, str(ROOT / "scorer_fidelity.py"), "--bench", str(bench), "--out", str(tmp_path / "fid"),
           "--students", "4", "--kd-epochs", "1", "--max-steps-per-epoch", "1", "--finetune-steps", "1",
           "--predictor-train", "6", "--results", str(tmp_path / "summary.json")]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((tmp_path / "summary.json").read_text())["cifar10"]
    assert res["n_students"] == 4 and res["eval_images"] == 64
    for name in ("inherit", "finetune", "predictor"):
        assert set(res["scorers"][name]) >= {"kendall_tau", "ci95", "spearman", "regrets"}
        assert len(res["scorers"][name]["regrets"]) == 3
    assert res["inherit_cost"]["ratio"] > 0
    # rerun: every score and student is cached, the numbers are read back
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0
    assert json.loads((tmp_path / "summary.json").read_text())["cifar10"]["rows"] == res["rows"]
    # one more KD run per student (another KD seed): the noise ceiling of tau; the rest stays cached
    r = subprocess.run([*cmd, "--repeat-kd", "1", "--no-sensitivity"], capture_output=True, text=True, timeout=600,
                       check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    res2 = json.loads((tmp_path / "summary.json").read_text())["cifar10"]
    noise = res2["noise_ceiling"]
    assert noise["kd_runs"] == 2 and noise["student_sd_points"] >= 0
    assert res2["rescore_regrets"]["truth"] == "mean top-1 of 2 KD runs"
    assert {"top1", "top2", "top4", "finetune"} <= set(res2["rescore_regrets"])
    assert set(noise["kendall_tau_between_runs"]) >= {"kendall_tau", "ci95"}
    assert (tmp_path / "fid" / "students" / "s0-r1" / "student.pt").is_file()
    assert [row["distilled"] for row in res2["rows"]] == [row["distilled"] for row in res["rows"]]
