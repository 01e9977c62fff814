"""File name, spider ``name`` and class name match; every source type has a spider."""

from __future__ import annotations

import importlib
import pkgutil

import crawlers.spiders
from config.settings import SOURCE_TYPES
from crawlers.spiders import SPIDERS
from crawlers.spiders.base import SourceSpider


def test_file_spider_and_class_names_match() -> None:
    found = {}
    for mod in pkgutil.iter_modules(crawlers.spiders.__path__):
        if mod.name == "base":
            continue
        module = importlib.import_module(f"crawlers.spiders.{mod.name}")
        classes = [c for c in vars(module).values()
                   if isinstance(c, type) and issubclass(c, SourceSpider) and c is not SourceSpider
                   and c.__module__ == module.__name__]
        assert len(classes) == 1, f"{mod.name}.py should define exactly one spider"
        (cls,) = classes
        assert cls.name == mod.name
        assert cls.__name__ == mod.name.capitalize() + "Spider"
        found[cls.name] = cls
    assert found == SPIDERS
    assert set(SPIDERS) == set(SOURCE_TYPES)
