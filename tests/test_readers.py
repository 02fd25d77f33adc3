"""The three file readers: what they read, and one clear DataError for everything they cannot."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postagger.errors import DataError, UsageError
from postagger.readers import guess_format, read_tagged_file

CONLLU = """# sent_id = 1
# text = Don't stop.
1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3\tstop\tstop\tVERB\tVB\t_\t0\troot\t_\t_
3.1\tgo\tgo\tVERB\tVB\t_\t_\t_\t3:conj\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

0.1\tso\tso\tADV\tRB\t_\t_\t_\t1:advmod\t_
1\tYes\tyes\tINTJ\tUH\t_\t0\troot\t_\t_
"""


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_conllu_upos_and_xpos_skip_comments_ranges_and_empty_nodes(tmp_path):
    path = write(tmp_path, "a.conllu", CONLLU)
    assert read_tagged_file(path) == [[("Do", "AUX"), ("n't", "PART"), ("stop", "VERB"), (".", "PUNCT")], [("Yes", "INTJ")]]
    assert read_tagged_file(path, column="xpos") == [[("Do", "VBP"), ("n't", "RB"), ("stop", "VB"), (".", ".")], [("Yes", "UH")]]


def test_tagged_splits_at_the_last_slash(tmp_path):
    path = write(tmp_path, "a.txt", "The/DT 1/2/CD cat/NN ./.\n\n  a/DT  b/NN \n")
    assert read_tagged_file(path) == [[("The", "DT"), ("1/2", "CD"), ("cat", "NN"), (".", ".")], [("a", "DT"), ("b", "NN")]]


@pytest.mark.parametrize("header", ["word\ttag", "Token\tPOS", "\ufeffFORM\tUPOS", " words \t tags "])
@pytest.mark.parametrize("gap", ["", "\n"])
@pytest.mark.parametrize("before", ["", "\n\n"])
def test_tsv_header_line_is_skipped(tmp_path, header, gap, before):
    """A first non-blank line naming the columns is a header, not a token tagged "tag"; the
    same names later, or a first line with a real tag, are data."""
    body = "The\tDT\ncat\tNN\n\nword\ttag\n"
    start = "\ufeff" + before + header[1:] if header.startswith("\ufeff") else before + header  # a BOM opens the file
    assert read_tagged_file(write(tmp_path, "h.tsv", start + "\n" + gap + body)) == [
        [("The", "DT"), ("cat", "NN")], [("word", "tag")]]
    assert read_tagged_file(write(tmp_path, "d.tsv", before + "Word\tNN\nhere\tRB\n")) == [[("Word", "NN"), ("here", "RB")]]
    line = before.count("\n") + 1
    with pytest.raises(DataError, match=rf"^.*only.tsv:{line}: a header line and no sentences after it$"):
        read_tagged_file(write(tmp_path, "only.tsv", start + "\n"))


def test_conllu_tags_lose_surrounding_spaces_as_tsv_fields_do(tmp_path):
    path = write(tmp_path, "a.conllu", "1\tI\tI\tPRON \t_\t_\t_\t_\t_\t_\n2\tgo\tgo\t VERB\t_\t_\t_\t_\t_\t_\n")
    assert read_tagged_file(path) == [[("I", "PRON"), ("go", "VERB")]]


def test_tsv_with_blank_lines_between_sentences_crlf_and_bom(tmp_path):
    path = write(tmp_path, "a.tsv", "\ufeffThe\tDT\r\ncat\tNN\r\n\r\n\r\nGo\tVB\r\n")
    assert read_tagged_file(path) == [[("The", "DT"), ("cat", "NN")], [("Go", "VB")]]


def test_format_from_extension_and_override(tmp_path):
    assert guess_format("x.conllu") == "conllu" and guess_format("x.TSV") == "tsv" and guess_format("x.txt") == "tagged"
    with pytest.raises(UsageError, match="--format"):
        guess_format("x.data")
    path = write(tmp_path, "a.data", "a\tDT\n")
    assert read_tagged_file(path, "tsv") == [[("a", "DT")]]


@pytest.mark.parametrize("name, text, fmt, message", [
    ("a.conllu", "1\tDo\tdo\tAUX\n", None, r"a.conllu:1: expected 10 tab-separated CoNLL-U columns, found 4"),
    ("a.conllu", "# c\nx\tDo\tdo\tAUX\tVBP\t_\t_\t_\t_\t_\n", None, r"a.conllu:2: 'x' is not a CoNLL-U word id"),
    ("a.conllu", "1-\tDo\tdo\tAUX\tVBP\t_\t_\t_\t_\t_\n", None, r"a.conllu:1: '1-' is not a CoNLL-U word id"),
    ("a.conllu", "\u0663\tDo\tdo\tAUX\tVBP\t_\t_\t_\t_\t_\n", None, r"a.conllu:1: '\u0663' is not a CoNLL-U word id"),
    ("a.conllu", "1\tI\tI\tPRON\t_\t_\t_\t_\t_\t_\n3\tgo\tgo\tVERB\t_\t_\t_\t_\t_\t_\n", None,
     r"a.conllu:2: word id 3 where 2 should come$"),
    ("a.conllu", "1\tI\tI\tPRON\t_\t_\t_\t_\t_\t_\n1\tYou\tyou\tPRON\t_\t_\t_\t_\t_\t_\n", None,
     r"a.conllu:2: word id 1 where 2 should come; is a blank line missing before it\?"),
    ("a.txt", "The/DT\rcat/NN\r", None, r"a.txt:1: a carriage return inside the line"),
    ("a.txt", "ok/DT " + "x" * 5000 + "\n", None, r"a.txt:1: token 'x{57}\.\.\.' is not word/TAG$"),
    ("a.conllu", "1\tDo\tdo\t_\tVBP\t_\t_\t_\t_\t_\n", None,
     r"a.conllu:1: no UPOS tag for 'Do' \(it has an XPOS tag: use --column xpos\)$"),
    ("a.conllu", "1\tDo\tdo\t_\t_\t_\t_\t_\t_\t_\n", None, r"a.conllu:1: no UPOS tag for 'Do'$"),
    ("a.txt", "The/DT cat NN\n", None, r"a.txt:1: token 'cat' is not word/TAG"),
    ("a.txt", "ok/DT\n/NN\n", None, r"a.txt:2: token '/NN' is not word/TAG"),
    ("a.tsv", "a\tDT\nb\tNN\textra\n", None, r"a.tsv:2: expected 2 tab-separated columns \(word, tag\), found 3"),
    ("a.tsv", "a DT\n", None, r"a.tsv:1: expected 2 tab-separated columns"),
    ("a.tsv", "", None, r"a.tsv: empty file"),
    ("a.conllu", "# only a comment\n\n", None, r"a.conllu: no sentences found"),
    ("a.tsv", b"ok\tDT\n\xff\xfe\tNN\n", None, r"a.tsv:2: not valid UTF-8 \(byte 1 of the line\)$"),
    ("a.tsv", b"ok\tDT\nna\xefve\tJJ\n", None, r"a.tsv:2: not valid UTF-8 \(byte 3 of the line\)$"),
    ("a.conllu", "1\t \t_\tNOUN\t_\t_\t_\t_\t_\t_\n", None, r"a.conllu:1: empty word form$"),
    ("a.tsv", "The\tDT\ncat\t<pad>\n", None, r"a.tsv:2: the tag '<pad>' is one postagger keeps for itself"),
    ("a.txt", "The/DT cat/<unk>\n", None, r"a.txt:1: the tag '<unk>' is one postagger keeps for itself"),
    ("a.conllu", "1\tThe\tthe\t<pad>\t_\t_\t_\t_\t_\t_\n", None, r"a.conllu:1: the tag '<pad>' is one postagger keeps"),
    ("a.txt", b"ok/DT\n" + bytes(100) + b"\n", None, r"a.txt:2: a NUL byte \(character 1 of the line\): a binary file"),
    ("a.tsv", "ok\tDT\n".encode("utf-16-le"), None, r"a.tsv:1: a NUL byte \(character 2 of the line\): a binary file, or UTF-16\?"),
])
def test_bad_files_name_the_file_and_line(tmp_path, name, text, fmt, message):
    path = write(tmp_path, name, text)
    with pytest.raises(DataError, match=message):
        read_tagged_file(path, fmt)


def test_missing_file_and_folder_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        read_tagged_file(tmp_path / "none.tsv")
    with pytest.raises(UsageError, match="folder"):
        read_tagged_file(tmp_path, "tsv")
    write(tmp_path, "plain.tsv", "a\tDT\n")
    with pytest.raises(UsageError, match=r"plain.tsv/x.tsv: cannot open \(not a directory\)"):
        read_tagged_file(tmp_path / "plain.tsv" / "x.tsv")
    with pytest.raises(UsageError, match="cannot open"):
        read_tagged_file(tmp_path / ("x" * 300 + ".tsv"))


@pytest.mark.parametrize("fmt, data, message", [
    ("tagged", b"", "<stdin>: no sentences found"),
    ("tagged", b"a/DT\nx\n", "^<stdin>:2: token 'x' is not word/TAG$"),
    ("tsv", b"a\tDT\nx\n", "^<stdin>:2: expected 2 tab-separated columns"),
    ("conllu", b"1\ta\n", "^<stdin>:1: expected 10 tab-separated CoNLL-U columns"),
])
def test_stdin_is_named_stdin_in_errors(monkeypatch, fmt, data, message):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    with pytest.raises(DataError, match=message):
        read_tagged_file("-", fmt)


line_text = st.text(alphabet=st.sampled_from(list("ab/\t _#-.1\u00e9\u4e2d\r")), max_size=30)
files = st.one_of(
    st.binary(max_size=300),
    st.lists(line_text, max_size=12).map(lambda lines: "\n".join(lines).encode("utf-8")),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=files, fmt=st.sampled_from(["conllu", "tagged", "tsv"]), column=st.sampled_from(["upos", "xpos"]))
def test_fuzzed_files_read_or_raise_only_data_error(tmp_path, content, fmt, column):
    path = tmp_path / "fuzz"
    path.write_bytes(content)
    try:
        sentences = read_tagged_file(path, fmt, column)
    except DataError as err:
        assert str(err).startswith(str(path)) and "\n" not in str(err)
        return
    assert sentences and all(sentences)
    for sentence in sentences:
        for word, tag in sentence:
            assert word.strip() and tag.strip() and "\n" not in word + tag


@pytest.mark.parametrize("fmt, name", [("text", "a.txt"), ("tsv", "a.tsv"), ("conllu", "a.conllu")])
def test_what_format_tagged_writes_reads_back(tmp_path, fmt, name):
    from postagger.readers import format_tagged

    sentences = [[("The", "DT"), ("1/2", "CD"), ("naïve", "JJ")], [("Go", "VB"), (".", ".")]]
    sep = "\n" if fmt == "text" else ""
    blocks = [format_tagged([w for w, _ in s], [t for _, t in s], None, fmt, upos=True) + sep for s in sentences]
    path = write(tmp_path, name, ("" if fmt == "text" else "\n").join(blocks))
    assert read_tagged_file(path, column="upos") == sentences


def test_format_tagged_writes_no_block_for_no_tokens_and_probabilities_to_four_places():
    from postagger.readers import format_tagged

    assert format_tagged([], [], None, "conllu", sent_id=3) == ""
    assert format_tagged(["Go", "!"], ["VB", "."], None, "conllu", sent_id=3) == \
        "# sent_id = 3\n# text = Go !\n1\tGo\t_\t_\tVB\t_\t_\t_\t_\t_\n2\t!\t_\t_\t.\t_\t_\t_\t_\t_\n"
    assert format_tagged(["Go"], ["VB"], [0.123456], "json") == '{"tokens": ["Go"], "tags": ["VB"], "probs": [0.1235]}'


def test_a_byte_order_mark_is_dropped_only_where_a_file_starts(tmp_path):
    """At the start of a later line it is a character of the word (U+FEFF, a zero-width space)."""
    path = write(tmp_path, "a.tsv", "\ufeffThe\tDT\n\ufeffcat\tNN\n")
    assert read_tagged_file(path) == [[("The", "DT"), ("\ufeffcat", "NN")]]
