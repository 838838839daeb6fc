"""Hostile `.env` and `citadel.toml` inputs, built in memory so no megabytes are committed.

Each case is (name, content, expected): `expected` is None when the file must load and give a
result, or a fragment the error message must contain (the line number where there is one).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str
    content: bytes
    expected: str | None
    """None: the input loads; otherwise a fragment of the clear error it must produce."""


ENV_CASES = (
    Case("bom", b"\xef\xbb\xbfDB_PASSWORD=s3cret\n", None),
    Case("crlf", b"A=1\r\nB='two'\r\n", None),
    Case("lone-cr", b"A=1\rB=2\r", None),
    Case("nul-bytes", b"A=1\nB=\x00\x01\n", "contains NUL bytes"),
    Case("binary", bytes(range(1, 256)) * 64, "line 2 is not UTF-8"),
    Case("invalid-utf8", b"A=1\nB=2\nC=\xff\xfe\n", "line 3 is not UTF-8"),
    Case("megabyte-line", b"BIG=" + b"y" * 1_000_000 + b"\n", None),
    Case("megabyte-key", b"K" * 1_000_000 + b"=1\n", None),
    Case("100k-keys", b"".join(b"KEY_%d=value-%d\n" % (i, i) for i in range(100_000)), None),
    Case("unterminated-quotes", b"A='abc\nB=\"def\nC=1\n", None),
    Case("export-prefixes", b"export A=1\nexport  B=2\nexport\nexport=3\n", None),
    Case("interpolation-loop", b"A=${B}\nB=${A}\nC=${C}\nD=${" + b"${" * 10_000 + b"\n", None),
    Case("escaped-quotes", b"A=\"" + b"\\\"" * 100_000 + b"\n", None),
    Case("only-equals", b"=\n==\n=x\n", None),
    Case("control-chars", b"A\x1b[31m=1\n\x07B=2\n", None),
    Case("empty", b"", None),
    Case("too-large", b"#" * (16 * 1024 * 1024 + 1), "too large for a .env file"),
)

SOURCE = b"[[source]]\nname = 'a'\nkind = 'aws'\nregion = 'us-east-1'\n"
TOML_CASES = (
    Case("wrong-type", SOURCE + b"max_retries = 'three'\n", "source[0].max_retries must be int"),
    Case("bool-for-int", SOURCE + b"max_retries = true\n", "must be int"),
    Case("unknown-top-key", b"sources = []\n", "unknown key 'sources'"),
    Case("unknown-source-key", SOURCE + b"regoin = 'x'\n", "unknown key 'source[0].regoin'"),
    Case("missing-kind", b"[[source]]\nname = 'a'\n", "kind must be one of"),
    Case("missing-name", b"[[source]]\nkind = 'aws'\n", "name is required"),
    Case("missing-required", b"[[source]]\nname = 'a'\nkind = 'gcp'\n", "needs 'project'"),
    Case("missing-env-path", b"[[env]]\nenvironment = 'x'\n", "env[0].path is required"),
    Case("no-sections", b"", None),
    Case("duplicate-source-names", SOURCE + SOURCE, "source name 'a' is used more than once"),
    Case("duplicate-toml-key", b"read_only = true\nread_only = false\n", "line 2"),
    Case("url-no-scheme", b"[[source]]\nname='v'\nkind='vault'\nurl='vault:8200'\n", "must start with http"),
    Case("url-no-host", b"[[source]]\nname='v'\nkind='vault'\nurl='http://'\n", "not a valid URL (no host)"),
    Case("url-bad-ipv6", b"[[source]]\nname='v'\nkind='vault'\nurl='http://[::1'\n", "not a valid URL"),
    Case("url-bad-port", SOURCE + b"endpoint_url = 'http://127.0.0.1:99999'\n", "not a valid URL"),
    Case("url-space", b"[[source]]\nname='z'\nkind='azure'\nvault_url='https://my vault.net'\n", "not a valid URL"),
    Case("huge-int", SOURCE + b"max_retries = 9223372036854775807\n", "max_retries must be between"),
    Case("bigger-than-int64", b"[policy]\nstale_after_days = 99999999999999999999999\n", "up to 36500"),
    Case("huge-float", SOURCE + b"timeout_seconds = 1e308\n", "timeout_seconds must be between"),
    Case("nan", SOURCE + b"timeout_seconds = nan\n", "must be a finite number"),
    Case("inf", SOURCE + b"cache_ttl_seconds = inf\n", "must be a finite number"),
    Case("negative-inf", SOURCE + b"cache_ttl_seconds = -inf\n", "must be a finite number"),
    Case("array-for-policy", b"policy = [1, 2]\n", "[policy] must be a table"),
    Case("table-for-env", b"[env]\npath = '.env'\n", "written [[env]]"),
    Case("scalar-for-source", b"source = 1\n", "written [[source]]"),
    Case("array-for-kind", b"[[source]]\nname='a'\nkind=['aws']\n", "kind must be one of"),
    Case("table-for-name", b"[[source]]\nname={a=1}\nkind='aws'\n", "name must be str"),
    Case("date-for-string", b"[[source]]\nname=1979-05-27\nkind='aws'\n", "name must be str"),
    Case("nul-in-path", b"[[env]]\npath = \"a\\u0000b\"\n", "must not contain a NUL"),
    Case("unknown-user-home", b"[[env]]\npath = '~no-such-user-citadel/.env'\n", "cannot expand '~'"),
    Case("deep-nesting", b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
    Case("not-toml", b"[[source]\nname = \n", "line 1"),
    Case("non-utf8", b"# ok\n[[env]]\npath = '\xff.env'\n", "line 3 is not UTF-8"),
    Case("binary", bytes(range(128)) * 16, "not valid TOML"),
    Case("binary-high", bytes(range(256)) * 16, "line 2 is not UTF-8"),
    Case("kv-version", b"[[source]]\nname='v'\nkind='vault'\nurl='http://h'\nkv_version=3\n", "kv_version must be 1 or 2"),
)
