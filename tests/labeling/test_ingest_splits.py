"""The train/eval split is fixed by the hash, so an eval image never moves into training."""

import hashlib
import random

import pytest

from labeling.ingest.splits import EVAL, TRAIN, split_for_hash


def random_hashes(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [hashlib.sha256(rng.randbytes(16)).hexdigest() for _ in range(count)]


def test_same_hash_always_gets_the_same_split():
    for sha256 in random_hashes(200):
        assert split_for_hash(sha256, 0.3) == split_for_hash(sha256, 0.3)


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_eval_share_is_close_to_the_fraction(fraction):
    splits = [split_for_hash(sha256, fraction) for sha256 in random_hashes(10_000)]

    share = splits.count(EVAL) / len(splits)

    assert abs(share - fraction) < 0.02


def test_zero_fraction_puts_everything_in_train():
    assert {split_for_hash(sha256, 0.0) for sha256 in random_hashes(1000)} == {TRAIN}


def test_raising_the_fraction_only_moves_train_inputs_to_eval():
    # An input in eval at 10 % is in eval at 20 % too: the split is a threshold on the hash.
    hashes = random_hashes(2000)
    at_10 = {h for h in hashes if split_for_hash(h, 0.1) == EVAL}
    at_20 = {h for h in hashes if split_for_hash(h, 0.2) == EVAL}

    assert at_10 <= at_20
