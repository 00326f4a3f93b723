"""The robustness bench's noise: seeded, order-independent, and as strong as asked."""

from ils.data.perturb import perturb, typo

TEXT = "this movie was a wonderful surprise from beginning to the very end of its story"


def test_same_seed_same_noise_and_another_seed_other_noise():
    assert perturb(TEXT, 3) == perturb(TEXT, 3)
    assert len({perturb(TEXT, s, 0.5, 0.3) for s in range(5)}) > 1


def test_rates_control_the_damage():
    assert perturb(TEXT, 0, 0.0, 0.0) == TEXT
    noisy = perturb(TEXT, 0, 1.0, 0.0)
    changed = [a != b for a, b in zip(TEXT.split(), noisy.split()) if len(a) >= 4]
    assert all(changed)  # every long word got exactly one typo
    swapped = perturb(TEXT, 0, 0.0, 1.0).split()
    assert sorted(swapped) == sorted(TEXT.split()) and swapped != TEXT.split()


def test_a_typo_keeps_the_first_letter_and_changes_one_place():
    import random

    for s in range(50):
        w = typo("wonderful", random.Random(s))
        assert w[0] == "w" and w != "wonderful" and abs(len(w) - 9) <= 1
