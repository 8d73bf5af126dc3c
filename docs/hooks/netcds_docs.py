"""MkDocs hooks: the pages of the site that are generated from the code, at build time.

Generated, so they can never go stale:

- ``contracts/<name>.md`` and ``contracts/<name>.schema.json``: the input and output contracts,
  from the same function as ``cds schema NAME`` (:func:`cds.model.schema.json_schema`);
- ``reference/cli.md``: every command of ``cds`` with its arguments and options, from the Typer
  app itself (Typer's own ``utils docs`` writer);
- ``pathways/index.md``, ``pathways/<id>.md``, ``pathways/<id>.svg`` and ``<id>.fr.svg``: every
  pathway drawn with the code the CLI uses (:func:`cds.render.dot.to_dot` and Graphviz); without
  Graphviz's ``dot`` the page shows the DOT text instead.

Nothing here evaluates a patient. The hook file lives under ``docs/hooks/`` and is excluded from
the site (``exclude_docs`` in ``mkdocs.yml``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any, get_args

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.netcds")

#: What each contract is, for the page's first paragraph.
CONTRACT_TITLES = {
    "patient": ("Patient (input)", "What `cds evaluate` and `cds.validate_patient` accept."),
    "recommendation": ("Recommendation (output)", "What `cds evaluate --format json` writes and "
                                                  "`cds.evaluate` returns."),
    "surveillance": ("Surveillance report (output)", "What `cds surveillance --format json` writes."),
}

_svg_cache: dict[str, bytes | None] = {}


# ------------------------------------------------------------------ mkdocs events


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Put the generated pages in the navigation: contracts and pathways are listed from the code."""
    nav = config.nav or []
    for section in nav:
        if not isinstance(section, dict):
            continue
        for title, children in section.items():
            if title == "Contracts" and isinstance(children, list):
                children.extend({CONTRACT_TITLES[n][0]: f"contracts/{n}.md"} for n in _contract_names())
            if title == "Pathway pictures" and isinstance(children, list):
                children.extend({_pathway_title(pw): f"pathways/{pw.id}.md"} for pw in _kb().pathways)
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add every generated page and picture to the site."""
    for path, content in _generated_pages():
        files.append(File.generated(config, path, content=content))
    return files


# ------------------------------------------------------------------ generators


def _generated_pages() -> Iterator[tuple[str, str | bytes]]:
    from cds.model.schema import json_schema

    for name in _contract_names():
        schema = json_schema(name)  # type: ignore[arg-type]
        yield f"contracts/{name}.schema.json", json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
        yield f"contracts/{name}.md", contract_page(name, schema)
    yield "reference/cli.md", cli_page()
    yield from pathway_pages()


def _contract_names() -> list[str]:
    from cds.model.schema import ContractName

    return list(get_args(ContractName))


def _kb() -> Any:
    from cds import default_engine

    return default_engine().kb


def _pathway_title(pw: Any) -> str:
    return str(pw.title.en)


# ------------------------------------------------------------------ contracts


def contract_page(name: str, schema: Mapping[str, Any]) -> str:
    """One contract as Markdown: one table per object (field, type, description), then the schema."""
    title, what = CONTRACT_TITLES.get(name, (name, ""))
    defs: Mapping[str, Any] = schema.get("$defs", {})
    out = [
        f"# {title}\n",
        f"{what} Generated at build time from `cds schema {name}` (JSON Schema draft 2020-12); "
        f"download it: [{name}.schema.json]({name}.schema.json).\n",
        "Unknown values are `null` or absent, never guessed.\n",
    ]
    description = schema.get("description")
    if description:
        out.append(f"{_one_para(description)}\n")
    from cds.model.schema import CONTRACTS

    model = CONTRACTS.get(name)  # type: ignore[call-overload]
    out.append(_object_table(model.__name__ if model is not None else name, schema))
    for def_name in sorted(defs):
        node = defs[def_name]
        if node.get("type") == "object" or "properties" in node:
            out.append(_object_table(def_name, node))
    enums = [d for d in sorted(defs) if "enum" in defs[d]]
    if enums:
        out.append("## Allowed values\n")
        out.append("| type | values |\n|---|---|")
        for d in enums:
            values = ", ".join(f"`{v}`" for v in defs[d]["enum"])
            out.append(f'| <span id="{_anchor(d)}"></span>{d} | {values} |')
        out.append("")
    out.append(f'## The schema\n\n??? note "{name}.schema.json"\n\n    ```json\n')
    for line in json.dumps(schema, indent=2, ensure_ascii=False).splitlines():
        out.append(f"    {line}")
    out.append("    ```\n")
    return "\n".join(out) + "\n"


def _object_table(name: str, node: Mapping[str, Any]) -> str:
    required = set(node.get("required", []))
    rows = [f'## {name} {{ #{_anchor(name)} }}\n']
    if node.get("description") and "$defs" not in node:  # the root's description is above
        rows.append(f"{_one_para(node['description'])}\n")
    rows.append("| field | type | description |\n|---|---|---|")
    for field, prop in node.get("properties", {}).items():
        mark = " **(required)**" if field in required else ""
        rows.append(f"| `{field}`{mark} | {_type(prop)} | {_cell(_describe(prop))} |")
    return "\n".join(rows) + "\n"


def _type(prop: Mapping[str, Any]) -> str:
    if "$ref" in prop:
        target = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{target}](#{_anchor(target)})"
    if "anyOf" in prop:
        return " or ".join(_type(p) for p in prop["anyOf"])
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object" and "additionalProperties" in prop and isinstance(prop["additionalProperties"], dict):
        return f"map of {_type(prop['additionalProperties'])}"
    bounds = []
    for key, sign in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"),
                      ("minLength", "length >="), ("maxLength", "length <=")):
        if key in prop:
            bounds.append(f"{sign} {prop[key]}")
    if "format" in prop:
        bounds.append(prop["format"])
    return f"{kind} ({', '.join(bounds)})" if bounds else str(kind)


def _describe(prop: Mapping[str, Any]) -> str:
    text = str(prop.get("description", ""))
    if "default" in prop and prop["default"] not in (None, [], {}):
        text += f" Default: `{json.dumps(prop['default'], ensure_ascii=False)}`."
    return text.strip()


def _one_para(text: str) -> str:
    return " ".join(str(text).split())


def _cell(text: str) -> str:
    return _one_para(text).replace("|", "\\|")


def _anchor(name: str) -> str:
    return "def-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


# ------------------------------------------------------------------ CLI


def cli_page() -> str:
    """Every ``cds`` command, its arguments and options, written by Typer from the app."""
    import typer.main
    from typer.cli import get_docs_for_click

    from cds.cli import app

    command = typer.main.get_command(app)
    body = get_docs_for_click(obj=command, ctx=typer.Context(command), name="cds", title="cds")  # type: ignore[arg-type]
    intro = (
        "# CLI reference\n\n"
        "Generated at build time from the Typer app (`cds/cli.py`): every command with its "
        "arguments and options, as `--help` prints them.\n\n"
        "Exit codes: `0` success; `2` bad input (a patient file, an argument or option value, or "
        "knowledge files that do not load: each problem with its file and line); `1` internal error "
        "(the engine failed, a bug; `NETCDS_DEBUG=1` prints the traceback).\n\n"
    )
    # Typer's page starts with its own level-1 title: keep one title per page.
    lines = body.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return intro + "\n".join(lines) + "\n"


# ------------------------------------------------------------------ pathways


def _svg(dot_text: str) -> bytes | None:
    from cds.render import graphviz

    if dot_text not in _svg_cache:
        try:
            _svg_cache[dot_text] = graphviz.render(dot_text, "svg")
        except graphviz.GraphvizNotFound:
            log.info("Graphviz's dot is missing: the pathway pages show the DOT text")
            _svg_cache[dot_text] = None
    return _svg_cache[dot_text]


def pathway_pages() -> Iterator[tuple[str, str | bytes]]:
    """Every pathway drawn in English and French, one page each, and an index page."""
    from cds.render.dot import to_dot

    kb = _kb()
    index = [
        "# Pathway pictures\n",
        "Every decision graph of the knowledge, drawn at build time with the code of "
        "`cds pathway` (`cds/render/dot.py` and Graphviz). The graph drawn is exactly what the "
        "engine runs: each edge compiles to one rule. Click a picture to open it full size "
        "(then zoom with the browser). The same pictures, with one patient's route highlighted, "
        "come from `cds pathway NAME --patient PATIENT.json`.\n",
        "| pathway | id | français |\n|---|---|---|",
    ]
    for pw in kb.pathways:
        index.append(f"| [{pw.title.en}]({pw.id}.md) | `{pw.id}` | {pw.title.fr} |")
        page = [f"# {pw.title.en}\n", f"*{pw.title.fr}* — pathway id `{pw.id}` "
                f"(`pathways/{pw.id}.yaml`).\n"]
        for lang, suffix in (("en", ""), ("fr", ".fr")):
            dot_text = to_dot(kb, pw.id, lang)
            svg = _svg(dot_text)
            heading = "English" if lang == "en" else "Français"
            page.append(f"## {heading}\n")
            if svg is None:
                page.append("Graphviz's `dot` was not installed when this site was built; the DOT "
                            "source follows (render it with `dot -Tsvg`).\n")
                page.append("```dot\n" + dot_text.rstrip() + "\n```\n")
                continue
            yield f"pathways/{pw.id}{suffix}.svg", svg
            page.append(f"[![{pw.title.en} ({lang})]({pw.id}{suffix}.svg)]({pw.id}{suffix}.svg)\n")
        yield f"pathways/{pw.id}.md", "\n".join(page) + "\n"
    yield "pathways/index.md", "\n".join(index) + "\n"
