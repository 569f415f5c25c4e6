"""The built-in style paintings; see :mod:`painterly.styles.catalog`."""

from painterly.styles.catalog import (
    StyleEntry,
    describe_source,
    find_style,
    list_styles,
    load_style_image,
    normalize_styles,
    parse_style_spec,
    resolve_style_path,
    style_names,
)

__all__ = ["StyleEntry", "describe_source", "find_style", "list_styles", "load_style_image", "normalize_styles",
           "parse_style_spec", "resolve_style_path", "style_names"]
