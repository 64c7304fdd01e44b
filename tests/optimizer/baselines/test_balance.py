"""Count-constrained LPT and pair swaps, by hand."""

import numpy as np

from hdmoe_ray.optimizer.baselines.balance import bin_loads, greedy_assignment, improve_by_swaps, split_counts


def test_greedy_lpt_by_hand():
    # loads 5,4,3 -> bins 0,1,2; 3 -> bin 2 (load 3); 2 -> bin 1 (load 4); 1 -> bin 0 (only room left)
    assert greedy_assignment(np.array([5.0, 4, 3, 3, 2, 1]), 3).tolist() == [0, 1, 2, 2, 1, 0]


def test_swaps_fix_what_lpt_misses():
    w = np.array([5.0, 4, 3, 3, 3])  # 2 bins, counts 3 and 2; optimum {5,4} / {3,3,3} = 9
    greedy = greedy_assignment(w, 2)  # 5->0, 4->1, 3->1, 3->0, 3->1: loads 8 and 10
    assert bin_loads(greedy, w, 2).tolist() == [8.0, 10.0]
    better = improve_by_swaps(w, greedy, 2)
    assert bin_loads(better, w, 2).max() == 9.0
    assert sorted(np.bincount(better, minlength=2).tolist()) == [2, 3]


def test_split_counts():
    assert split_counts(7, 3).tolist() == [3, 2, 2]
    assert split_counts(2, 4).tolist() == [1, 1, 0, 0]
