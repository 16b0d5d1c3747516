"""``python -m autograder.nbgrader_main ARGS`` runs ``nbgrader ARGS``, with one per-cell cost removed.

nbgrader validates every cell's metadata with ``jsonschema.validate``, which re-checks the schema itself on each
call (most of the cost); here a validator is built once per schema object and reused, with the same result and
the same error raised. Importing this module installs that (the grading coordinator's preflight imports it too,
as it validates every cell of every submission with nbgrader's validator). jsonschema's slow import of
``rfc3987_syntax`` is kept out by the version bound in pyproject.toml, for every process. Everything else is
plain nbgrader.
"""
import sys

import jsonschema
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

_plain_validate = jsonschema.validate
_validators: dict[int, object] = {}


def _validate(instance, schema, cls=None, *args, **kwargs):
    """``jsonschema.validate`` that checks each schema object once instead of on every call."""
    if cls is not None or args or kwargs:
        return _plain_validate(instance, schema, cls, *args, **kwargs)
    validator = _validators.get(id(schema))
    if validator is None or validator.schema is not schema:
        kind = validator_for(schema)
        kind.check_schema(schema)
        validator = _validators[id(schema)] = kind(schema)
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


jsonschema.validate = _validate

if __name__ == "__main__":
    from nbgrader.apps.nbgraderapp import main

    sys.exit(main())
