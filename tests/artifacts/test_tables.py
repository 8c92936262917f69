"""Tables the stages hand each other: top-5 tables, box tables."""
import numpy as np
import pandas as pd

from ilsvrc_pipe.artifacts.tables import best_box_lookup, box_table, top5_table


def test_top5_table_orders_by_score_and_keeps_wnids():
    probs = pd.DataFrame([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]], columns=["n01", "n02", "n03"], index=["i1", "i2"])
    t = top5_table(probs, k=3)
    assert list(t[t.image_id == "i1"].wnid) == ["n02", "n03", "n01"]
    assert list(t[t.image_id == "i2"]["rank"]) == [1, 2, 3]
    assert t.score.iloc[0] == 0.7


def test_box_table_and_best_box_lookup():
    t = box_table([("i1", "n01", 2, 0.2, 0, 0, 5, 5), ("i1", "n01", 1, 0.9, 1, 1, 9, 9), ("i2", "n02", 1, 0.5, 2, 2, 3, 3)])
    assert t.dtypes["rank"] == np.int64 and t.dtypes["x1"] == np.float64
    best = best_box_lookup(t)
    assert set(best) == {("i1", "n01"), ("i2", "n02")} and best[("i1", "n01")].tolist() == [1, 1, 9, 9]
