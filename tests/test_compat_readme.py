"""The unchanged-code check: the reference library's README examples, run as written.

Each example is the text of the ``persidict`` 0.309.0 README (and the older
``dir_name`` one from its 0.7/0.8 README), executed in a fresh namespace in an
empty working folder. Where the README shows output (``# >>> ...``), the
printed lines must match. S3 examples reach the moto server through the
standard ``AWS_ENDPOINT_URL`` variable, as real code reaches AWS: nothing
in the example text is changed.
"""

from __future__ import annotations

import re
import textwrap

import pytest

LOCAL_DISK = """
from persidict import FileDirDict

# Create a dictionary that will be stored in the "my_app_data" folder.
# The folder will be created automatically if it doesn't exist.
app_settings = FileDirDict(base_dir="my_app_data")

# Add and update items just like a regular dictionary.
app_settings["username"] = "alex"
app_settings["theme"] = "dark"
app_settings["notifications_enabled"] = True

# Values can be any pickleable Python object.
app_settings["recent_projects"] = ["project_a", "project_b"]

print(f"Current theme is: {app_settings['theme']}")
# >>> Current theme is: dark

# The data persists!
# If you run the script again or create a new dictionary object
# pointing to the same folder, the data will be there.
reloaded_settings = FileDirDict(base_dir="my_app_data")

print(f"Number of settings: {len(reloaded_settings)}")
# >>> Number of settings: 4

print("username" in reloaded_settings)
# >>> True
"""

S3_CLOUD = """
from persidict import S3Dict

# Create a dictionary that will be stored in an S3 bucket.
# The bucket will be created if it doesn't exist.
cloud_config = S3Dict(bucket_name="my-app-config-bucket")

# Use it just like a FileDirDict.
cloud_config["api_key"] = "ABC-123-XYZ"
cloud_config["timeout_seconds"] = 30

print(f"API Key: {cloud_config['api_key']}")
# >>> API Key: ABC-123-XYZ
"""

TYPE_HINTS = """
from persidict import FileDirDict

# Create a typed dictionary
d: FileDirDict[int] = FileDirDict(base_dir="./data")
d["count"] = 42
val: int = d["count"]  # Type checker knows this is int

# Works with any PersiDict implementation
from persidict import LocalDict
cache: LocalDict[str] = LocalDict()
"""

RUNTIME_TYPES = """
d = FileDirDict(base_dir="./data", base_class_for_values=int)
d["count"] = 42      # OK
d["name"] = "Alice"  # Raises TypeError at runtime
"""

INSERT_IF_ABSENT = """
from persidict import FileDirDict, ITEM_NOT_AVAILABLE, ETAG_IS_THE_SAME

d = FileDirDict(base_dir="./data")
r = d.setdefault_if("token", default_value="v1", condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE)
"""  # noqa: E501  (the README's line, unchanged)

CAS_LOOP = """
from persidict import FileDirDict, ANY_ETAG, ETAG_IS_THE_SAME, ITEM_NOT_AVAILABLE

d = FileDirDict(base_dir="./data")

while True:
    r = d.get_item_if("count", condition=ANY_ETAG, expected_etag=ITEM_NOT_AVAILABLE)
    new_value = 1 if r.new_value is ITEM_NOT_AVAILABLE else r.new_value + 1
    r2 = d.set_item_if("count", value=new_value, condition=ETAG_IS_THE_SAME, expected_etag=r.actual_etag)
    if r2.condition_was_satisfied:
        break
"""  # noqa: E501

OLD_README = """
from persidict import FileDirDict
my_dictionary = FileDirDict(dir_name="my_folder")
my_dictionary["Eliza"] = "MIT Eliza was a mock psychotherapist."
my_dictionary["Eliza","year"] = 1965
my_dictionary["Eliza","authors"] = ["Joseph Weizenbaum"]
my_dictionary["Shoebox"] = "IBM Shoebox performed arithmetic operations"
my_dictionary["Shoebox"] += " on voice commands."
my_dictionary["Shoebox", "year"] = 1961
my_dictionary["Shoebox", "authors"] = ["W.C. Dersch", "E.A. Quade"]
for k in my_dictionary:
    print(list(k), "==>", my_dictionary[k])
if not "Eliza" in my_dictionary:
    print("Something is wrong")
"""


def run_example(code: str, namespace: dict | None = None) -> tuple[dict, list[str]]:
    """Execute ``code`` as a script; return its globals and printed lines."""
    printed: list[str] = []
    namespace = dict(namespace or {})
    namespace["print"] = lambda *args, **kw: printed.append(" ".join(map(str, args)))
    exec(compile(textwrap.dedent(code), "<README example>", "exec"), namespace)
    return namespace, printed


def shown_output(code: str) -> list[str]:
    return re.findall(r"^# >>> (.*)$", code, flags=re.MULTILINE)


@pytest.fixture(autouse=True)
def in_empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_local_disk_example_prints_what_the_readme_shows():
    _, printed = run_example(LOCAL_DISK)
    assert printed == shown_output(LOCAL_DISK)


def test_s3_example_runs_unchanged_and_creates_its_bucket(s3_options, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_options["endpoint_url"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    _, printed = run_example(S3_CLOUD)
    assert printed == shown_output(S3_CLOUD)


def test_type_hint_examples_run():
    namespace, _ = run_example(TYPE_HINTS)
    assert namespace["val"] == 42
    with pytest.raises(TypeError):
        run_example(RUNTIME_TYPES, namespace)
    assert "name" not in namespace["d"] and namespace["d"]["count"] == 42


def test_conditional_examples_run():
    namespace, _ = run_example(INSERT_IF_ABSENT)
    assert namespace["r"].value_was_mutated and namespace["d"]["token"] == "v1"
    run_example(CAS_LOOP)
    namespace, _ = run_example(CAS_LOOP)
    assert namespace["d"]["count"] == 2


def test_the_old_dir_name_example_still_runs():
    _, printed = run_example(OLD_README)
    assert sorted(printed) == sorted(
        [
            "['Eliza'] ==> MIT Eliza was a mock psychotherapist.",
            "['Eliza', 'year'] ==> 1965",
            "['Eliza', 'authors'] ==> ['Joseph Weizenbaum']",
            "['Shoebox'] ==> IBM Shoebox performed arithmetic operations on voice commands.",
            "['Shoebox', 'year'] ==> 1961",
            "['Shoebox', 'authors'] ==> ['W.C. Dersch', 'E.A. Quade']",
        ]
    )
