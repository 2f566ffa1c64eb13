"""YAML for front matter: plain data only, read in time linear in its size.

`yaml.safe_load` already refuses Python objects, but it still follows anchors and aliases: a 530-byte
header of nested aliases ("billion laughs") expands to gigabytes as soon as anything walks it, and
a self-referencing alias makes a structure that never ends. A script's header has no use for them,
so an alias is an error at the `*name` that uses it; everything else is YAML as usual.
"""

from __future__ import annotations

import yaml


class AliasRefused(yaml.composer.ComposerError):
    pass


class _PlainLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise AliasRefused(None, None, f"aliases (*{event.anchor}) are not allowed in front matter; "
                               "write the value out in full", event.start_mark)
        return super().compose_node(parent, index)


def load(text: str):
    """The YAML document in `text` as plain data; yaml.YAMLError (with a mark) for bad input."""
    loader = _PlainLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
