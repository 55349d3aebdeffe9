"""Where moto is slow in a way a large local pay run feels, made faster without changing
what any request answers.

Measured on this project's machine (2 cores) with moto 5.2 in process, 2,000 items:
a consistent Query of a 100-item partition ran at about 300-1,000 items/s and a
BatchGetItem at about 700-1,200 items/s. Two causes, both fixed here:

- **Responses.** moto's generic response serializer looks every member of every
  DynamoDB ``AttributeValue`` (ten possible members) up through its alias machinery,
  although moto's DynamoDB models already hand it the wire form (``{"S": "..."}``).
  A scalar attribute value (``S``, ``N``, ``BOOL``, ``NULL``, ``SS``, ``NS``) is now
  written as it is; maps and lists still go through the serializer, so their members
  take the same fast path. Binary values (``B``, ``BS``) are left to the serializer.
- **Requests.** moto parses a DynamoDB request through botocore's model, member by
  member: each ``AttributeValue`` is looked up for all ten of its possible members. A
  scalar one (``S``, ``N``, ``BOOL``, ``NULL``, and ``SS``/``NS`` as a list) comes out
  as it went in (moto's parser converts none of them), so it is now copied as it is;
  maps, lists, binary values and anything unusual (a null, an unknown member) still go
  through moto's parser. And the local cloud's request counter has already parsed the
  body's JSON (``aws_ops``: it sizes the items): it hands its parse to moto's
  (``request_json_handed_over``) instead of moto parsing the same bytes again. The two
  were 8% and 4.5% of the local cloud's GIL samples at 10,000 employees.
- **Query.** moto's ``Table.query`` without an index walks and sorts every item of the
  table to find one partition's (``all_items()``), so each query costs the whole
  table: quadratic over a pay run that queries each employer's partition. A query on a
  table's own key now starts from that partition only; it is filtered, sorted, paged
  and projected by moto's own code exactly as before. And a query with a
  ``ProjectionExpression`` deep-copied every stored item it found (every attribute:
  TaxCalc's results and digests) before projecting each into a new item: half of
  the Query samples at 10,000 employees. Such a query no longer copies the items
  first (its filter only reads them; the projection builds new ones).

Three more, paid on every request of every service, seen with py-spy in a 10 x 100 bench
(about 15% of the local cloud's samples) and with cProfile of moto's server:

- moto's server finds the backend of a request by matching its host against every
  service's URL patterns, under one lock; a host's backend never changes, so it is
  remembered.
- Before dispatching an action, moto lists the response class's methods with
  ``inspect.getmembers`` (about 5% of a small UpdateItem's server time); a class's
  methods do not change while the cloud serves, so the list is made once per class.
- Every look-up of a service's account backend checked ``self not in
  BackendDict._instances``, a list of dicts compared by value, under moto's global
  backend lock; once an account's backend exists (and so is registered: both happen
  together, and a reset clears both), there is nothing to do.

And one paid on every conditional UpdateItem, the pipeline's most frequent write (six
per employee when this was measured, two now: CALCULATED and PAID), measured with
cProfile at about 7 ms each in process, four fifths of it in moto's update-expression
machinery:

- the update expression is parsed twice per request (once to check its placeholders,
  once to run it). Its syntax tree is only read or deep-copied by moto (the validator
  works on its own copy), so the tree is now parsed once per distinct expression and
  kept (at most ``PARSED_EXPRESSIONS``); an expression that does not parse is not kept
  and raises as before;
- the condition expression (``#s IN (:p0, :p1)``) is lexed again for every request,
  each token by trying a list of regular expressions: 5% of the local cloud's GIL
  samples at 10,000 employees. Its tokens (immutable tuples, with no children) depend
  on the expression's text only, so they are kept per expression and each parse gets
  a fresh sequence of them; an expression that does not lex raises as before;
- moto's validator walks the tree ten times, and each walk asks ``isinstance`` of
  every node against abstract classes (``abc``), which goes through
  ``ABCMeta.__instancecheck__``: 4.8 million calls for 1,450 updates. Whether a node's
  class is processed by a walker's class, and which processor takes it, never
  changes, so the answer is worked out once per pair of classes with ``issubclass``
  (registered virtual subclasses included) and kept. The walk itself (order, the
  pre-child hook, the replacement of processed nodes) is moto's;
- the validator deep-copies the tree before working on it. A parsed tree's nodes hold
  only their class name, their children (nodes, or strings and numbers in the
  leaves) and their parent, so ``tree_copy`` rebuilds it node by node, and gives
  anything else (a tree of another shape, a value that is not a node) to
  ``copy.deepcopy``.
- of the validator's ten walks, three only check the expression's structure: at most
  one clause of each kind, no path set twice or overlapping another, no key attribute
  updated. Their verdict depends on the parsed tree, the attribute names and the
  table's key attributes only, and they change nothing, so ``_checked_once`` runs them
  once per (tree, names, key attributes) that passed them; an expression that fails
  them is checked (and refused) again every time. 12% of the local cloud's GIL samples
  at 10,000 employees (TaxCalc's write is 15 actions);
- once moto has validated an update expression with its names against a table (as
  above), a *simple* one (``SET`` of top-level attributes to given values, or to
  ``if_not_exists(a, :v) + :w``, and ``REMOVE`` of top-level attributes: every write
  the pipeline makes) is not validated and executed through the tree again.
  ``simple_update`` resolves it against the request's values and the item as moto's
  processors would (the values' own ``DynamoType``, moto's own number sum) and moto's
  executor applies it. Anything else goes moto's way: another shape, a value not given
  or of another type than a string, number, bool or null, a sum of other than numbers,
  an item that could come near moto's size limit. With the structural checks, the
  validator, its tree copy and the executor were 31% of the local cloud's GIL samples
  at 10,000 employees;
- UpdateItem deep-copies the stored item before updating it, for the table's stream
  only. A table without a stream (every table here) skips that copy (4%).
- the validator's processors and its copy of the tree are made only when it walks the
  tree, not for a simple update (the copy alone was 6.5% of the cloud's GIL samples
  once MoneyMovement's PAID moves went into transactions);
- a condition expression is parsed into a tree of operators twice per request
  (handler, backend): kept per expression, names and the values it uses
  (``_conditions_parsed_once``, 7%);
- an ``Item`` checked its size once per attribute set, each time summing every
  attribute: now once for all (``_items_sized_once``, 4%);
- a TransactWriteItems backed up every table it touches, whole, once per item it
  writes (EmployeeStatus, 100 times for MoneyMovement's transaction of 100 PAID
  moves): it backs up the items it writes instead (``_item_backups``).
- a projection (a Query's or a GetItem's ``ProjectionExpression``: EmployerValidation's
  results, the steps' stored outcomes, MoneyMovement's states) converted the whole
  item to plain JSON once per projected path, to pick one attribute out of it each
  time: 12% of the local cloud's GIL samples. ``_projected_attributes`` converts just
  the attribute each path starts from; the path is then found and merged by moto's own
  ``find_nested_key`` and ``merge_dicts`` as before.

And the Step Functions executor, a quarter of the local cloud's time holding the GIL in
the same bench (py-spy ``--gil``): a chunk's items travel through every state of the
chunk flow, and moto copies a state's input, result and parameters with
``copy.deepcopy`` several times per state (its memo and reduce protocol per node).
Those values are JSON (dicts, lists, strings, numbers, booleans, null), for which a
plain recursive copy gives the same independent value; ``json_copy`` makes it, and
hands any other type to ``copy.deepcopy``. It replaces ``copy.deepcopy`` only in the
executor's modules that copy state data (``JSON_COPY_MODULES``), not where moto copies
its own objects (state machines, jobs, events).

One of those copies is made twice: a state's ``OutputPath`` (``$`` when not given)
extracts the output with ``StringJsonPath``, which returns a deep copy, and then resets
the states' input with it, which deep-copies it again. That second copy was 7% of the
local cloud's GIL samples in a 100 x 100 bench, where the cloud's process is busy all
the time. The value is a fresh copy no one else holds (it was just popped off the
evaluation stack), so ``_owned_outputs`` stores it as the input without copying it; an
output path of another kind, or one that fails, goes through moto's own code.

And every JSON path a state evaluates (``$.items``, ``$.pay_run``, a ``ResultPath``) is
parsed again by ``jsonpath_ng``, whose parser rebuilds its yacc tables for each parse:
16% of the executor's samples in the same profile. A parsed path is an immutable tree
that ``find`` and ``update_or_create`` only read, so ``_parsed_paths`` keeps it per path
string (at most ``PARSED_PATHS``); a path that does not parse raises each time as
before.

The server itself (werkzeug's, a new connection and a new thread per request) is no
longer moto's: ``http_server`` serves moto's application with keep-alive.

``apply()`` runs in the process that serves moto (the local cloud) and in the tests that
use moto in process; ``platform/tests/local/test_moto_speed.py`` checks that answers
are the same with and without it.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import re
import sys
import threading
import types
from collections import deque
from collections.abc import Iterator
from typing import Any

#: Distinct update expressions whose parsed tree is kept (the pipeline uses a dozen).
PARSED_EXPRESSIONS = 1024

#: Distinct JSON paths whose parsed form is kept (a state machine has a few dozen).
PARSED_PATHS = 4096

#: AttributeValue members whose wire form moto's models already hold, with nothing to encode.
PASS_THROUGH = frozenset({"S", "N", "BOOL", "NULL", "SS", "NS"})
_SETS = frozenset({"SS", "NS"})

#: The Step Functions executor's modules whose ``copy.deepcopy`` copies state data only.
JSON_COPY_MODULES = (
    "moto.stepfunctions.parser.asl.eval.states",
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
)
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})

_applied = False
_originals: dict[str, Any] = {}
_scope = threading.local()


def _fast_serializer() -> None:
    from moto.core.serialize import BaseJSONSerializer

    original = BaseJSONSerializer._serialize_type_structure
    _originals["serializer"] = original

    def _serialize_type_structure(
        self: Any, serialized: Any, value: Any, shape: Any, key: str
    ) -> None:
        if (
            key
            and shape.name == "AttributeValue"
            and type(value) is dict
            and len(value) == 1
            and next(iter(value)) in PASS_THROUGH
        ):
            self._default_serialize(serialized, value, shape, key)
            return
        original(self, serialized, value, shape, key)

    BaseJSONSerializer._serialize_type_structure = _serialize_type_structure  # type: ignore[method-assign]

    original_map = BaseJSONSerializer._serialize_type_map
    _originals["serializer_map"] = original_map
    unnamed = object()

    def _serialize_type_map(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        # An item (a map of AttributeValues whose entries are named by their keys): its
        # scalar values are written as they are, the others one by one as before.
        value_shape = shape.value
        if value_shape.name != "AttributeValue" or type(value) is not dict:
            original_map(self, serialized, value, shape, key)
            return
        if self.get_serialized_name(value_shape, unnamed) is not unnamed:
            original_map(self, serialized, value, shape, key)
            return
        map_obj = self.MAP_TYPE()
        self._default_serialize(serialized, map_obj, shape, key)
        for sub_key, sub_value in value.items():
            if (
                type(sub_value) is dict
                and len(sub_value) == 1
                and next(iter(sub_value)) in PASS_THROUGH
            ):
                map_obj[sub_key] = sub_value
            else:
                self._serialize(map_obj, sub_value, value_shape, sub_key)

    BaseJSONSerializer._serialize_type_map = _serialize_type_map  # type: ignore[method-assign]


def _fast_attribute_values() -> None:
    from moto.core.parse import BaseJSONParser

    original_structure = BaseJSONParser._parse_structure
    original_body = BaseJSONParser._parse_body_as_json
    _originals["parse_structure"] = original_structure
    _originals["parse_body"] = original_body

    def _parse_structure(self: Any, shape: Any, value: Any) -> Any:
        if shape.name == "AttributeValue" and type(value) is dict and len(value) == 1:
            ((member, member_value),) = value.items()
            if member in PASS_THROUGH and member_value is not None:
                if member in _SETS:
                    if type(member_value) is list:
                        return {member: list(member_value)}
                else:
                    return {member: member_value}
        return original_structure(self, shape, value)

    def _parse_body_as_json(self: Any, body_contents: Any) -> Any:
        handed = getattr(_scope, "request_json", None)
        if handed is not None and body_contents == handed[0]:
            return handed[1]
        return original_body(self, body_contents)

    BaseJSONParser._parse_structure = _parse_structure  # type: ignore[method-assign]
    BaseJSONParser._parse_body_as_json = _parse_body_as_json  # type: ignore[method-assign]


@contextlib.contextmanager
def request_json_handed_over(body: bytes, parsed: Any) -> Iterator[None]:
    """While moto serves a request in this thread, its JSON parser takes ``parsed`` (the
    caller's ``json.loads`` of ``body``) instead of parsing ``body`` again; a different
    body (moto decompressed it, say) is parsed as before. moto's parse builds its own
    structures, maps and lists from it (``_fast_attribute_values`` copies the
    AttributeValues it keeps), so the caller's dicts are not changed by moto."""
    previous = getattr(_scope, "request_json", None)
    _scope.request_json = (body, parsed)
    try:
        yield
    finally:
        _scope.request_json = previous


def _partition_query() -> None:
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.table import Table

    all_items = Table.all_items
    query = Table.query
    _originals["all_items"] = all_items
    _originals["query"] = query

    def partition_items(self: Any) -> list[Any]:
        scope = getattr(_scope, "partition", None)
        if scope is None or scope[0] is not self:
            return all_items(self)
        hash_set = self.items.get(scope[1])
        if hash_set is None:
            return []
        items = list(hash_set.values()) if self.range_key_attr else [hash_set]
        return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)

    def scoped_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        # The eighth positional argument (or ``index_name``) names an index; the seventh
        # (or ``projection_expressions``) the attributes the answer keeps.
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        projection = kwargs.get("projection_expressions", args[5] if len(args) > 5 else None)
        previous = getattr(_scope, "partition", None), getattr(_scope, "projected", False)
        _scope.partition = (self, hash_key)
        _scope.projected = bool(projection)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _scope.partition, _scope.projected = previous

    Table.all_items = partition_items  # type: ignore[method-assign]
    Table.query = scoped_query  # type: ignore[method-assign]

    def deepcopy(value: Any, memo: Any = None) -> Any:
        # A projected query's results: each is projected into a new item, so moto's copy
        # of the stored items (of every attribute) before that is not needed.
        if getattr(_scope, "projected", False):
            return list(value)
        return copy.deepcopy(value, memo)

    _originals["table_copy"] = table_module.copy
    table_module.copy = types.SimpleNamespace(copy=copy.copy, deepcopy=deepcopy)  # type: ignore[attr-defined]


def _known_hosts() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    _originals["get_backend_for_host"] = original
    backends: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in backends:
            backends[host] = original(self, host)
        return backends[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


def _known_actions() -> None:
    from moto.core import responses

    original = responses.method_names_from_class
    _originals["method_names"] = original
    names_of: dict[Any, list[str]] = {}

    def method_names_from_class(clazz: Any) -> list[str]:
        names = names_of.get(clazz)
        if names is None:
            names = names_of[clazz] = original(clazz)
        return list(names)

    responses.method_names_from_class = method_names_from_class  # type: ignore[assignment]


def _existing_accounts() -> None:
    from moto.core.base_backend import BackendDict

    original = BackendDict._create_account_specific_backend
    _originals["create_account_backend"] = original

    def create_account_backend(self: Any, account_id: str) -> None:
        if dict.__contains__(self, account_id):
            return
        original(self, account_id)

    BackendDict._create_account_specific_backend = create_account_backend  # type: ignore[method-assign]


def _parsed_once() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    original = UpdateExpressionParser.__dict__["make"]
    _originals["make"] = original
    make = original.__func__
    parsed: dict[str, Any] = {}
    lock = threading.Lock()

    def cached_make(cls: Any, expression_str: str) -> Any:
        tree = parsed.get(expression_str)
        if tree is None:
            tree = make(cls, expression_str)  # raises for an invalid one: nothing kept
            with lock:
                if len(parsed) >= PARSED_EXPRESSIONS:
                    parsed.clear()
                    _tree_texts.clear()
                parsed[expression_str] = tree
                _tree_texts[id(tree)] = (tree, expression_str)
        return tree

    UpdateExpressionParser.make = classmethod(cached_make)  # type: ignore[method-assign,assignment]


def _lexed_once() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = ConditionExpressionParser._lex_condition_expression
    _originals["lex_condition"] = original
    lexed: dict[str, tuple[Any, ...]] = {}
    lock = threading.Lock()

    def lex(self: Any) -> Any:
        expression = self.condition_expression
        tokens = lexed.get(expression)
        if tokens is None:
            tokens = tuple(original(self))  # raises for an invalid one: nothing kept
            with lock:
                if len(lexed) >= PARSED_EXPRESSIONS:
                    lexed.clear()
                lexed[expression] = tokens
        # A fresh deque of the same tokens: the parser pops it and builds new nodes.
        return deque(tokens)

    ConditionExpressionParser._lex_condition_expression = lex  # type: ignore[method-assign]


def _value_key(values: dict[str, Any], placeholders: tuple[str, ...]) -> tuple[str, ...] | None:
    """The values of ``placeholders`` as JSON (None: one that JSON cannot hold)."""
    try:
        return tuple(json.dumps(values.get(p), sort_keys=True) for p in placeholders)
    except (TypeError, ValueError):
        return None


def _conditions_parsed_once() -> None:
    """A condition expression (``#s IN (:p0, :p1)``) is parsed twice per conditional
    UpdateItem (moto's handler checks it, the backend evaluates it), each time into a
    new tree of operators: 7% of the local cloud's GIL samples at 10,000 employees.
    The tree depends on the expression, the names and the values it uses only, and
    evaluating it only reads it, so it is kept per (expression, names) and the JSON
    of the values it uses (those moto found, and any ``:name`` in the text), with the
    names and values moto found in it; one that does not parse raises each time."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = ConditionExpressionParser.parse
    _originals["parse_condition"] = original
    #: (expression, names) -> (the placeholders it uses, {their values: (tree, names
    #: found, values found)}).
    parsed: dict[tuple[Any, ...], tuple[tuple[str, ...], dict[Any, Any]]] = {}
    lock = threading.Lock()

    def parse(self: Any) -> Any:
        expression = self.condition_expression
        names = self.expression_attribute_names or {}
        values = self.expression_attribute_values or {}
        if not expression or not isinstance(names, dict) or not isinstance(values, dict):
            return original(self)
        try:
            base = (expression, frozenset(names.items()))
            entry = parsed.get(base)
        except TypeError:  # names that are not strings: moto's way
            return original(self)
        if entry is not None:
            key = _value_key(values, entry[0])
            kept = entry[1].get(key) if key is not None else None
            if kept is not None:
                tree, names_found, values_found = kept
                self.expr_attr_names_found.extend(names_found)
                self.expr_attr_values_found.extend(values_found)
                return tree
        names_before = len(self.expr_attr_names_found)
        values_before = len(self.expr_attr_values_found)
        tree = original(self)  # raises for an invalid one: nothing kept
        names_found = tuple(self.expr_attr_names_found[names_before:])
        values_found = tuple(self.expr_attr_values_found[values_before:])
        placeholders = tuple(sorted({*values_found, *re.findall(_VALUE, expression)}))
        key = _value_key(values, placeholders)
        if key is not None:
            with lock:
                if len(parsed) >= PARSED_EXPRESSIONS:
                    parsed.clear()
                trees = parsed.setdefault(base, (placeholders, {}))[1]
                if len(trees) >= PARSED_EXPRESSIONS:
                    trees.clear()
                trees[key] = (tree, names_found, values_found)
        return tree

    ConditionExpressionParser.parse = parse  # type: ignore[method-assign]


class _NotAPlainTree(Exception):
    """A tree ``tree_copy`` does not copy itself: ``copy.deepcopy`` does."""


_TREE_LEAVES = frozenset({str, int})


def tree_copy(value: Any) -> Any:
    """``copy.deepcopy`` of a parsed update-expression tree, without its memo and reduce
    protocol; any other value (or tree shape) goes to ``copy.deepcopy``."""
    from moto.dynamodb.parsing.ast_nodes import Node

    if isinstance(value, Node) and value.parent is None:
        try:
            return _copy_node(value, None, Node)
        except _NotAPlainTree:
            pass
    return copy.deepcopy(value)


def _copy_node(node: Any, parent: Any, node_class: type) -> Any:
    attributes = node.__dict__
    if attributes.keys() != {"type", "children", "parent"}:
        raise _NotAPlainTree
    copied = object.__new__(type(node))
    copied.type = attributes["type"]
    copied.parent = parent
    children = attributes["children"]
    if children is None:
        copied.children = None
        return copied
    if type(children) is not list:
        raise _NotAPlainTree
    kids: list[Any] = []
    for child in children:
        kind = type(child)
        if kind in _TREE_LEAVES:
            kids.append(child)
        elif issubclass(kind, node_class) and child.parent is node:
            kids.append(_copy_node(child, copied, node_class))
        else:
            raise _NotAPlainTree
    copied.children = kids
    return copied


def _typed_walks() -> None:
    from moto.dynamodb.parsing import ast_nodes

    walker = ast_nodes.DepthFirstTraverser
    _originals["traverse_node_recursively"] = walker.traverse_node_recursively
    _originals["find_clauses"] = ast_nodes.Node.find_clauses
    node_class = ast_nodes.Node
    descend = (ast_nodes.Expression, ast_nodes.UpdateExpressionFunction)
    is_node: dict[type, bool] = {}
    is_descended: dict[type, bool] = {}
    #: (walker class, node class) -> position of the first class in the walker's
    #: processing map the node is an instance of, or -1.
    processor_at: dict[tuple[type, type], int] = {}

    def position(walk: Any, kind: type) -> int:
        key = (type(walk), kind)
        found = processor_at.get(key)
        if found is None:
            found = next(
                (i for i, cls in enumerate(walk._processing_map()) if issubclass(kind, cls)), -1
            )
            processor_at[key] = found
        return found

    base_hook = walker.pre_processing_of_child
    #: walker class -> whether it has a pre-child hook of its own (the base one does nothing)
    hooked: dict[type, bool] = {}

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        kind = type(node)
        known = is_node.get(kind)
        if known is None:
            known = is_node[kind] = issubclass(kind, node_class)
        if known:
            parent_node = node.parent
            children = node.children
            if children is not None:
                walk = type(self)
                hook = hooked.get(walk)
                if hook is None:
                    hook = hooked[walk] = walk.pre_processing_of_child is not base_hook
                for i, child_node in enumerate(children):
                    if hook:
                        self.pre_processing_of_child(node, i)
                    self.traverse_node_recursively(child_node, i)
            at = position(self, kind)
            if at >= 0:
                node = list(self._processing_map().values())[at](node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node

    def find_clauses(self: Any, clause_types: Any) -> list[Any]:
        clauses = []
        for child in self.children or []:
            kind = type(child)
            if kind in clause_types:
                clauses.append(child)
                continue
            deeper = is_descended.get(kind)
            if deeper is None:
                deeper = is_descended[kind] = issubclass(kind, descend)
            if deeper:
                clauses.extend(child.find_clauses(clause_types))
        return clauses

    walker.traverse_node_recursively = traverse_node_recursively  # type: ignore[method-assign]
    ast_nodes.Node.find_clauses = find_clauses  # type: ignore[method-assign]

    from moto.dynamodb.parsing import validators

    _originals["validators_deepcopy"] = validators.deepcopy
    validators.deepcopy = tree_copy  # type: ignore[attr-defined]


#: id(parsed tree) -> (the tree, the expression's text) (``_parsed_once``).
_tree_texts: dict[int, tuple[Any, str]] = {}

_NAME = r"#?[A-Za-z_][A-Za-z0-9_]*"
_VALUE = r":[A-Za-z0-9_]+"
_SET_ACTION = re.compile(
    rf"\s*({_NAME})\s*=\s*(?:({_VALUE})"
    rf"|if_not_exists\(\s*({_NAME})\s*,\s*({_VALUE})\s*\)\s*\+\s*({_VALUE}))\s*"
)
_SIMPLE = re.compile(r"\s*SET\s+(?P<set>.*?)(?:\s+REMOVE\s+(?P<remove>[^=()]*?))?\s*")
_REMOVE_NAME = re.compile(rf"\s*({_NAME})\s*")
#: The value types a simple SET stores as they come (a string, a number, a bool, null).
_SIMPLE_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL"})
#: moto's own item size limit (``LimitedSizeDict``).
_ITEM_SIZE_LIMIT = 405000


@functools.lru_cache(maxsize=PARSED_EXPRESSIONS)
def _simple_shape(
    text: str,
) -> tuple[tuple[tuple[str, str | None, str | None, str | None], ...], tuple[str, ...]] | None:
    """``SET a = :v, n = if_not_exists(n, :z) + :one [REMOVE b, c]`` with top-level
    names only: (sets as (name, value, if_not_exists value, added value), removes), or
    None for any other expression (moto's own path takes it)."""
    whole = _SIMPLE.fullmatch(text)
    if whole is None:
        return None
    sets = []
    body, at = whole.group("set"), 0
    while True:  # actions separated by commas (if_not_exists has one of its own)
        action = _SET_ACTION.match(body, at)
        if action is None:
            return None
        name, value, inner, default, added = action.groups()
        if inner is not None and inner != name:
            return None
        sets.append((name, value, default, added))
        at = action.end()
        if at == len(body):
            break
        if body[at] != ",":
            return None
        at += 1
    removes = []
    for part in (whole.group("remove") or "").split(",") if whole.group("remove") else []:
        removed = _REMOVE_NAME.fullmatch(part)
        if removed is None:
            return None
        removes.append(removed.group(1))
    return tuple(sets), tuple(removes)


class SimpleUpdate:
    """A simple update expression, resolved against one item: what to set and remove.

    ``_checked_once`` returns it from the validator in place of moto's validated tree,
    and moto's executor applies it, when moto validated the same expression with the
    same names and key attributes before (so every name resolves, nothing overlaps and
    no key attribute is set) and this request's values and item fit (``simple_update``).
    """

    def __init__(self, sets: list[tuple[str, Any]], removes: list[str]) -> None:
        self.sets = sets
        self.removes = removes

    def normalize(self) -> None:
        """Nothing to normalize (moto normalizes its validated tree here)."""

    def apply(self, item: Any) -> None:
        attrs = item.attrs
        for name, value in self.sets:
            dict.__setitem__(attrs, name, value)  # the size was checked for all of them
        for name in self.removes:
            attrs.pop(name, None)


def simple_update(
    text: str, names: dict[str, str], values: dict[str, Any] | None, item: Any
) -> SimpleUpdate | None:
    """The expression's sets and removes for ``item``, as moto's validator and executor
    would make them, or None when moto's own path must take the request: another shape
    of expression, a value not given or of another type than ``_SIMPLE_TYPES``, an
    if_not_exists sum of other than numbers, or an item that could come near moto's
    size limit."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import bytesize

    shape = _simple_shape(text)
    if shape is None:
        return None
    values = values or {}

    def resolve(name: str) -> str | None:
        return names.get(name) if name.startswith("#") else name

    def given(placeholder: str) -> Any:
        value = values.get(placeholder)
        if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in _SIMPLE_TYPES:
            return None
        return DynamoType(value)

    sets: list[tuple[str, Any]] = []
    grows = 0
    for name, placeholder, default, added in shape[0]:
        attribute = resolve(name)
        if attribute is None:
            return None
        if placeholder is not None:
            value = given(placeholder)
        else:
            assert default is not None and added is not None
            # Both values must be given even when the attribute is there (moto refuses
            # an expression using a value it was not given, used or not).
            fallback, step = given(default), given(added)
            current = item.attrs.get(attribute)
            base = current if current is not None else fallback
            if fallback is None or step is None or base.type != "N" or step.type != "N":
                return None
            value = base + step  # moto's own sum
        if value is None:
            return None
        sets.append((attribute, value))
        grows += bytesize(attribute) + value.size()
    removes = [resolve(name) for name in shape[1]]
    if any(name is None for name in removes):
        return None
    # moto checks each SET against the item's size before it plus the new attribute; the
    # sum of all of them bounds every one of those checks.
    if item.size() + grows > _ITEM_SIZE_LIMIT:
        return None
    return SimpleUpdate(sets, [name for name in removes if name is not None])


def _checked_once() -> None:
    from moto.dynamodb.parsing import validators

    cls = validators.UpdateExpressionValidator
    _originals["validator_init"] = cls.__dict__.get("__init__")
    _originals["validator_validate"] = cls.__dict__.get("validate")
    #: The processors that read only the tree, the names and the table's key attributes.
    structural = (
        validators.ActionCountValidator,
        validators.OverlappingPathsValidator,
        validators.UpdateHashRangeKeyValidator,
    )
    #: id(tree) -> (the tree, kept so its id is not reused; the (names, key attributes)
    #: it passed the structural checks with).
    checked: dict[int, tuple[Any, set[tuple[Any, ...]]]] = {}
    lock = threading.Lock()

    def init(
        self: Any,
        expression: Any,
        expression_attribute_names: Any,
        expression_attribute_values: Any,
        item: Any,
        table: Any,
    ) -> None:
        # moto's own __init__ also makes the processors and a copy of the tree here;
        # ``validate`` makes them only when it walks the tree (not for a simple update).
        self._source_tree = expression
        self.expression_attribute_names = expression_attribute_names
        self.expression_attribute_values = expression_attribute_values
        self.item = item
        self.table = table

    def validate(self: Any) -> Any:
        tree = self._source_tree
        names = self.expression_attribute_names or {}
        key = (frozenset(names.items()), tuple(self.table.table_key_attrs))
        entry = checked.get(id(tree))
        known = entry is not None and entry[0] is tree and key in entry[1]
        if known:
            text = _tree_texts.get(id(tree))
            if text is not None and text[0] is tree:
                plan = simple_update(text[1], names, self.expression_attribute_values, self.item)
                if plan is not None:
                    return plan
        self.processors = processors = self.get_ast_processors()
        if known:
            processors = [p for p in processors if not isinstance(p, structural)]
        self.node_to_validate = node = validators.deepcopy(tree)
        for processor in processors:
            node = processor.traverse(node)
        if not known:  # every check passed (one that fails raises, and nothing is kept)
            with lock:
                if len(checked) >= PARSED_EXPRESSIONS:
                    checked.clear()
                checked.setdefault(id(tree), (tree, set()))[1].add(key)
        return node

    cls.__init__ = init  # type: ignore[method-assign]
    cls.validate = validate  # type: ignore[method-assign]

    from moto.dynamodb.parsing import executors

    executor = executors.UpdateExpressionExecutor
    original_execute = executor.execute
    _originals["execute"] = original_execute

    def execute(self: Any, node: Any = None) -> None:
        if node is None and isinstance(self.update_ast, SimpleUpdate):
            self.update_ast.apply(self.item)
            return
        original_execute(self, node)

    executor.execute = execute  # type: ignore[method-assign]


def _unstreamed_updates() -> None:
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import Item

    backend = models.DynamoDBBackend
    original = backend.update_item
    _originals["update_item"] = original

    def update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        table = self.tables.get(table_name)
        previous = getattr(_scope, "unstreamed", False)
        _scope.unstreamed = table is not None and table.stream_shard is None
        try:
            return original(self, table_name, *args, **kwargs)
        finally:
            _scope.unstreamed = previous

    def deepcopy(value: Any, memo: Any = None) -> Any:
        # UpdateItem's copy of the item before the update feeds the table's stream only.
        if getattr(_scope, "unstreamed", False) and (value is None or type(value) is Item):
            return value
        # A transaction's backup of a whole table: its items are kept by _item_backups.
        if any(value is table for table in getattr(_scope, "backed_up", ())):
            return value
        return copy.deepcopy(value, memo)

    backend.update_item = update_item  # type: ignore[method-assign]
    _originals["models_copy"] = models.copy
    models.copy = types.SimpleNamespace(copy=copy.copy, deepcopy=deepcopy)  # type: ignore[attr-defined]


def _transaction_targets(backend: Any, transact_items: Any) -> dict[Any, Any] | None:
    """(table, hash key, range key) -> the table of each item a TransactWriteItems
    writes, or None when moto's own backup must be made (a table with a stream, a
    request this cannot read: moto answers it as before)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    targets: dict[Any, Any] = {}
    try:
        for entry in transact_items:
            (kind, op), *rest = entry.items()
            table = backend.tables.get(op.get("TableName"))
            if rest or table is None or table.stream_shard is not None:
                return None
            key = op["Item"] if kind == "Put" else op["Key"]
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.has_range_key else None
            targets[(table.name, hash_key, range_key)] = table
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return targets


def _top_level_writes(transact_items: Any) -> bool:
    """Whether every Update of a transaction is a ``_simple_shape`` expression (SETs
    of top-level attributes and REMOVEs): its writes replace attribute values, never
    change one in place."""
    for entry in transact_items:
        update = entry.get("Update")
        if update is not None and _simple_shape(str(update.get("UpdateExpression", ""))) is None:
            return False
    return True


def _item_backups() -> None:
    """TransactWriteItems backs up every table it touches with ``copy.deepcopy`` before
    it writes, to put the table back if the transaction is cancelled: a copy of the
    whole EmployeeStatus table (every employee of every pay run) for MoneyMovement's
    PAID moves of 100 employees. The items it writes are kept instead (a copy of each,
    or none if it did not exist), and put back if it raises; moto's own code does the
    rest (conditions, writes, the cancellation reasons).

    When every update of the transaction only sets or removes top-level attributes
    (``_top_level_writes``), moto replaces an item's attribute values and never
    changes one in place, and a put or a delete replaces or drops the item object: the
    copy kept is then the item object and its attributes dict as they were (a deep copy
    of every item was 5% of the local cloud's GIL samples at 10,000 employees)."""
    from moto.dynamodb import models

    backend = models.DynamoDBBackend
    original = backend.transact_write_items
    _originals["transact_write_items"] = original

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        targets = _transaction_targets(self, transact_items)
        if targets is None or len(transact_items) > 100:
            return original(self, transact_items)
        shallow = _top_level_writes(transact_items)
        backups = []
        for (_, hash_key, range_key), table in targets.items():
            item = table.get_item(hash_key, range_key)
            if item is None:
                backups.append((table, hash_key, range_key, None, None))
            elif shallow:
                backups.append((table, hash_key, range_key, item, dict(item.attrs)))
            else:
                backups.append((table, hash_key, range_key, copy.deepcopy(item), None))
        _scope.backed_up = list({id(table): table for table in targets.values()}.values())
        try:
            return original(self, transact_items)
        except BaseException:
            for table, hash_key, range_key, item, attrs in backups:
                if item is None:
                    table.delete_item(hash_key, range_key)
                    continue
                if attrs is not None:  # the same item, its attributes as they were
                    dict.clear(item.attrs)
                    dict.update(item.attrs, attrs)
                if range_key is None:
                    table.items[hash_key] = item
                else:
                    table.items[hash_key][range_key] = item
            raise
        finally:
            _scope.backed_up = ()

    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _typed_values_made_directly() -> None:
    """moto's ``DynamoType`` takes its type and value from a one-entry dict by building
    two lists and calling two methods, for every attribute of every item it reads,
    writes or compares (7% of the local cloud's GIL samples at 10,000 employees). From
    a non-empty plain dict it now takes the first entry directly, as moto's does, and
    wraps a list's or a map's members the same way; anything else (a ``DynamoType``, an
    empty dict, another mapping) goes moto's way."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    original = DynamoType.__init__
    _originals["dynamo_type_init"] = original

    def init(self: Any, type_as_dict: Any) -> None:
        if type(type_as_dict) is not dict or not type_as_dict:
            original(self, type_as_dict)
            return
        kind = next(iter(type_as_dict))
        value = type_as_dict[kind]
        self.type = kind
        if kind == "L":
            self.value = [DynamoType(member) for member in value]
        elif kind == "M":
            self.value = {name: DynamoType(member) for name, member in value.items()}
        else:
            self.value = value

    DynamoType.__init__ = init  # type: ignore[method-assign]


def _sizes_summed_directly() -> None:
    """moto's ``DynamoType.size`` asks four type methods of every value, and sizes each
    member of a map by first copying it, with everything under it, into a new
    ``DynamoType``: an update's size check (``simple_update``) sums the whole item each
    time, 5% of the local cloud's GIL samples at 6,000 employees. A string, a number, a
    list and a map (whose members are ``DynamoType``s, sized in place) are now summed
    directly, to the same figure; any other value is sized moto's way."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import bytesize

    original = DynamoType.size
    _originals["dynamo_type_size"] = original

    def size(self: Any) -> int:
        kind, value = self.type, self.value
        if kind == "S" and type(value) is str:
            return len(value.encode("utf-8"))
        if kind == "N":
            return len(str(value))
        if kind == "M":
            return sum(
                bytesize(name)
                + (member.size() if type(member) is DynamoType else DynamoType(member).size())
                for name, member in value.items()
            )
        if kind == "L":
            return sum(member.size() for member in value)
        result: int = original(self)
        return result

    DynamoType.size = size  # type: ignore[method-assign]


def _items_sized_once() -> None:
    """moto's ``Item`` sets its attributes one at a time into a ``LimitedSizeDict``,
    which sums the size of every attribute already there at each one, to refuse an
    item over 400 KB: quadratic in the attributes (4% of the local cloud's GIL samples
    at 10,000 employees, in BatchWriteItem's puts and projections). The sizes only
    grow, so the item passes every one of those checks exactly when its total passes:
    an item is built with one total check, and one over the limit (or any value that
    fails) is built moto's way, which raises as it does."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    original = Item.__init__
    _originals["item_init"] = original

    def init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        try:
            typed = {key: DynamoType(value) for key, value in attrs.items()}
            size = sum(bytesize(key) + value.size() for key, value in typed.items())
        except Exception:
            size = None
        if size is None or size > _ITEM_SIZE_LIMIT:
            original(self, hash_key, range_key, attrs)
            return
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        dict.update(self.attrs, typed)  # the dict's own update: no check per attribute

    Item.__init__ = init  # type: ignore[method-assign]


def _projected_attributes() -> None:
    from moto.dynamodb.models import dynamo_type

    item_class = dynamo_type.Item
    _originals["project"] = item_class.project
    list_item = re.compile(r"(.+)\[(\d+)\]$")  # moto's ``find_nested_key``'s own pattern

    def project(self: Any, projection_expressions: list[list[str]]) -> Any:
        result: dict[str, Any] = {}
        attrs = self.attrs
        for expression in projection_expressions:
            # find_nested_key reads one attribute of the item: the expression's first
            # part, or its name before a list index (``lines[1]``).
            first = expression[0]
            match = list_item.match(first)
            name = match.group(1) if match else first
            regular = (
                {name: dynamo_type.deserializer.deserialize(attrs[name].to_regular_json())}
                if name in attrs
                else {}
            )
            dynamo_type.merge_dicts(result, dynamo_type.find_nested_key(expression, regular))
        return item_class(
            hash_key=self.hash_key,
            range_key=self.range_key,
            attrs=dynamo_type.serializer.serialize(result)["M"],
        )

    item_class.project = project  # type: ignore[method-assign]


def json_copy(value: Any) -> Any:
    """An independent copy of a JSON value, as ``copy.deepcopy`` makes it; a value of any
    other type (a tuple, a set, an object) is deep-copied by ``copy.deepcopy``."""
    kind = type(value)
    if kind is dict:
        return {key: json_copy(item) for key, item in value.items()}
    if kind is list:
        return [json_copy(item) for item in value]
    if kind in _JSON_SCALARS:
        return value
    return copy.deepcopy(value)


def _json_copies() -> None:
    import importlib

    shim = types.SimpleNamespace(deepcopy=json_copy)
    for name in JSON_COPY_MODULES:
        module = importlib.import_module(name)
        _originals[f"copy:{name}"] = module.copy
        module.copy = shim  # type: ignore[attr-defined]


def _owned_outputs() -> None:
    from moto.stepfunctions.parser.asl.component.common.path.output_path import OutputPath
    from moto.stepfunctions.parser.asl.component.common.string.string_expression import (
        StringJsonPath,
    )
    from moto.stepfunctions.parser.asl.utils.json_path import NoSuchJsonPathError

    original = OutputPath.__dict__["_eval_body"]
    _originals["output_path"] = original

    def eval_body(self: Any, env: Any) -> None:
        # Only the sampler known to hand over a copy of its own (not a context or
        # variable path, not a missing path: moto's code raises its failure event).
        if type(self.string_sampler) is not StringJsonPath:
            original(self, env)
            return
        try:
            self.string_sampler.eval(env=env)
        except NoSuchJsonPathError:
            original(self, env)
            return
        data = env.states._states_data
        data["input"] = env.stack.pop()  # what States.reset stores, without a second copy
        data["result"] = None
        data["errorOutput"] = None

    OutputPath._eval_body = eval_body  # type: ignore[method-assign]


#: The executor's modules that parse JSON paths with ``jsonpath_ng``'s ``parse``.
JSON_PATH_MODULES = (
    "moto.stepfunctions.parser.asl.utils.json_path",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
)


def _parsed_paths() -> None:
    import functools
    import importlib

    for name in JSON_PATH_MODULES:
        module = importlib.import_module(name)
        _originals[f"parse:{name}"] = module.parse
        module.parse = functools.lru_cache(maxsize=PARSED_PATHS)(module.parse)  # type: ignore[attr-defined]


def _clients_reused() -> None:
    """moto's Step Functions executor makes a new boto3 client for every task it runs
    (each SQS send with a task token, each Lambda invoke, each SNS publish): about 10 ms
    of the local cloud's CPU each, over 900 at 10,000 employees, and a new connection
    each. moto's factory makes a client from the region, the service and the endpoint
    only (the task's credentials, a role ARN, are not used: every client signs with the
    same fixed keys), and boto3 clients may be shared between threads, so one is made
    per (region, service, endpoint) and reused."""
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    _originals["boto_client_for"] = original
    clients: dict[tuple[Any, ...], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service, botocore_stubber.enabled, moto_server_port())
        with lock:
            client = clients.get(key)
            if client is None:
                client = clients[key] = original(region, service, state_credentials)
        return client

    boto_client.boto_client_for = boto_client_for  # type: ignore[assignment]
    for module in list(sys.modules.values()):
        if getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]


#: Parse trees kept by ``_definitions_parsed_once`` (a local cloud has a handful).
PARSED_DEFINITIONS = 32


def _definitions_parsed_once() -> None:
    """moto's Step Functions parses a state machine's definition with its ANTLR grammar
    (in Python) for every execution it starts: about 60 ms of the local cloud's CPU for
    the pay-run workflow, once per employer for MoneyMovement's notice workflow. The
    parse tree depends on the definition's text only and moto's preprocessor only reads
    it, so the tree is kept per definition (at most ``PARSED_DEFINITIONS``) and each
    execution still gets a program of its own, built from it by a new ``Preprocessor``.
    A definition that does not parse raises each time as before."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    original = AmazonStateLanguageParser.parse
    _originals["asl_parse"] = original
    trees: dict[str, Any] = {}
    lock = threading.Lock()

    def parse(definition: str) -> tuple[Any, Any]:
        tree = trees.get(definition)
        if tree is None:
            program, tree = original(definition)
            with lock:
                if len(trees) >= PARSED_DEFINITIONS:
                    trees.clear()
                trees[definition] = tree
            return program, tree
        return Preprocessor().visit(tree), tree

    AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign,assignment]


def _queue_attributes_once() -> None:
    """moto's SQS works a queue's attributes out (each of two dozen names turned into a
    method name by regular expressions, its messages counted) twice per attribute asked
    for, and once more for each: a GetQueueAttributes of two names computed them five
    times. Now once per request, with the names' conversion kept (it depends on the
    name only). ``All``, no names or an invalid one go moto's way."""
    import functools

    from moto.sqs import models as sqs_models

    _originals["sqs_camel"] = sqs_models.camelcase_to_underscores
    sqs_models.camelcase_to_underscores = functools.lru_cache(maxsize=256)(  # type: ignore[attr-defined]
        sqs_models.camelcase_to_underscores
    )
    backend = sqs_models.SQSBackend
    original = backend.get_queue_attributes
    _originals["get_queue_attributes"] = original

    def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> Any:
        queue = self.get_queue(queue_name)
        valid = set(queue.BASE_ATTRIBUTES + queue.FIFO_ATTRIBUTES + queue.KMS_ATTRIBUTES)
        if not attribute_names or "All" in attribute_names or not valid.issuperset(attribute_names):
            return original(self, queue_name, attribute_names)
        computed = queue.attributes
        return {n: computed[n] for n in attribute_names if computed.get(n) is not None}

    backend.get_queue_attributes = get_queue_attributes  # type: ignore[method-assign]


#: The services the workflows' tasks call (Lambda invokes, SQS sends with a task token,
#: the status items' DynamoDB writes, the maps' S3 reader and writer, the notice's SNS
#: publish, the state machines' own).
WORKFLOW_SERVICES = ("dynamodb", "lambda", "s3", "sns", "sqs", "stepfunctions")


def warm_clients(region: str, services: tuple[str, ...] = WORKFLOW_SERVICES) -> None:
    """Make the Step Functions executor's clients now (the local cloud's start-up),
    not on a pay run's first task of each service: about 0.1 s each of the cloud's CPU,
    in the path of the first employer. Only once ``apply`` made them reused."""
    if not _applied:
        return
    from moto.stepfunctions.parser.asl.utils import boto_client

    for service in services:
        boto_client.boto_client_for(region=region, service=service)


def apply() -> None:
    """Patch moto's DynamoDB responses, queries and updates and its request routing
    (idempotent)."""
    global _applied
    if _applied:
        return
    _fast_serializer()
    _fast_attribute_values()
    _partition_query()
    _known_hosts()
    _known_actions()
    _existing_accounts()
    _parsed_once()
    _lexed_once()
    _conditions_parsed_once()
    _typed_walks()
    _checked_once()
    _unstreamed_updates()
    _item_backups()
    _items_sized_once()
    _typed_values_made_directly()
    _sizes_summed_directly()
    _projected_attributes()
    _json_copies()
    _owned_outputs()
    _parsed_paths()
    _clients_reused()
    _definitions_parsed_once()
    _queue_attributes_once()
    _applied = True


def undo() -> None:
    """Restore moto as it was (the tests compare answers both ways)."""
    global _applied
    if not _applied:
        return
    from moto.core.base_backend import BackendDict
    from moto.core.serialize import BaseJSONSerializer
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.parsing import ast_nodes, validators
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    BaseJSONSerializer._serialize_type_structure = _originals["serializer"]  # type: ignore[method-assign]
    BaseJSONSerializer._serialize_type_map = _originals["serializer_map"]  # type: ignore[method-assign]
    from moto.core.parse import BaseJSONParser

    BaseJSONParser._parse_structure = _originals["parse_structure"]  # type: ignore[method-assign]
    BaseJSONParser._parse_body_as_json = _originals["parse_body"]  # type: ignore[method-assign]
    DomainDispatcherApplication.get_backend_for_host = _originals["get_backend_for_host"]  # type: ignore[method-assign]
    from moto.core import responses

    responses.method_names_from_class = _originals["method_names"]  # type: ignore[attr-defined]
    BackendDict._create_account_specific_backend = _originals["create_account_backend"]  # type: ignore[method-assign]
    Table.all_items = _originals["all_items"]  # type: ignore[method-assign]
    Table.query = _originals["query"]  # type: ignore[method-assign]
    from moto.dynamodb.models import table as table_module

    table_module.copy = _originals["table_copy"]  # type: ignore[attr-defined]
    UpdateExpressionParser.make = _originals["make"]  # type: ignore[method-assign]
    from moto.dynamodb.comparisons import ConditionExpressionParser

    ConditionExpressionParser._lex_condition_expression = _originals["lex_condition"]  # type: ignore[method-assign]
    ConditionExpressionParser.parse = _originals["parse_condition"]  # type: ignore[method-assign]
    ast_nodes.DepthFirstTraverser.traverse_node_recursively = _originals[  # type: ignore[method-assign]
        "traverse_node_recursively"
    ]
    ast_nodes.Node.find_clauses = _originals["find_clauses"]  # type: ignore[method-assign]
    validators.deepcopy = _originals["validators_deepcopy"]  # type: ignore[attr-defined]
    for attribute, name in (("__init__", "validator_init"), ("validate", "validator_validate")):
        if _originals[name] is None:  # inherited from Validator
            delattr(validators.UpdateExpressionValidator, attribute)
        else:
            setattr(validators.UpdateExpressionValidator, attribute, _originals[name])
    from moto.dynamodb import models

    models.DynamoDBBackend.update_item = _originals["update_item"]  # type: ignore[method-assign]
    models.DynamoDBBackend.transact_write_items = _originals["transact_write_items"]  # type: ignore[method-assign]
    from moto.dynamodb.parsing import executors

    executors.UpdateExpressionExecutor.execute = _originals["execute"]  # type: ignore[method-assign]
    models.copy = _originals["models_copy"]  # type: ignore[attr-defined]
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    Item.project = _originals["project"]  # type: ignore[method-assign]
    Item.__init__ = _originals["item_init"]  # type: ignore[method-assign]
    DynamoType.__init__ = _originals["dynamo_type_init"]  # type: ignore[method-assign]
    DynamoType.size = _originals["dynamo_type_size"]  # type: ignore[method-assign]
    for name in JSON_COPY_MODULES:
        sys.modules[name].copy = _originals[f"copy:{name}"]  # type: ignore[attr-defined]
    from moto.stepfunctions.parser.asl.component.common.path.output_path import OutputPath

    OutputPath._eval_body = _originals["output_path"]  # type: ignore[method-assign]
    for name in JSON_PATH_MODULES:
        sys.modules[name].parse = _originals[f"parse:{name}"]  # type: ignore[attr-defined]
    from moto.sqs import models as sqs_models
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    sqs_models.camelcase_to_underscores = _originals["sqs_camel"]  # type: ignore[attr-defined]
    sqs_models.SQSBackend.get_queue_attributes = _originals["get_queue_attributes"]  # type: ignore[method-assign]
    AmazonStateLanguageParser.parse = staticmethod(_originals["asl_parse"])  # type: ignore[method-assign,assignment]
    reused = sys.modules["moto.stepfunctions.parser.asl.utils.boto_client"].boto_client_for
    for module in list(sys.modules.values()):
        if getattr(module, "boto_client_for", None) is reused:
            module.boto_client_for = _originals["boto_client_for"]  # type: ignore[attr-defined]
    _applied = False
