"""The package's public face is deliberate."""

from __future__ import annotations

import luma_playground


def test_all_is_sorted_and_importable() -> None:
    """`__all__` is sorted and every name in it exists."""
    names = luma_playground.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n.startswith("_"), n))
    for name in names:
        assert hasattr(luma_playground, name), name


def test_errors_share_one_base() -> None:
    """Every public error derives from LumaPlaygroundError."""
    errors = [
        getattr(luma_playground, n)
        for n in luma_playground.__all__
        if isinstance(getattr(luma_playground, n), type)
        and issubclass(getattr(luma_playground, n), Exception)
    ]
    assert len(errors) >= 15
    assert all(issubclass(e, luma_playground.LumaPlaygroundError) for e in errors)
