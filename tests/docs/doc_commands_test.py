"""Every command in README.md, docs/*.md and experiments/*/README.md works when pasted.

Run by ctest (label docs, in the default suite) as
    python doc_commands_test.py <tiebreak binary> <source root> [<operator library>]

The shell commands are extracted from ```sh/```bash blocks, `$ ` lines of other blocks, and inline
code spans that start with a command (tiebreak, torchrun, srun, sbatch, cmake, scripts/…,
experiments/…). Each one is checked as far as it can be without training:
  * it parses (bash -n), unless it is a synopsis (`[--flag X]`, `A|B`, `...`, CONFIG-style names);
  * `tiebreak SUB` names an existing subcommand and every `--flag` is one `tiebreak SUB --help` lists;
  * every checkout path it names (configs/, scripts/, experiments/, docs/, reference/, python/ ...)
    exists, and a script it runs is executable;
  * every config it passes, with its --set/--data-root and each --grid value, resolves
    (`tiebreak config`, the same validation train and sweep do);
  * the cheap ones run: `tiebreak --version`, `tiebreak demo ...`, `tiebreak data verify ...`,
    `tiebreak config ...`, with `tiebreak` on PATH as the README says it is installed.
```json blocks that are config fragments resolve too, and ```python blocks run (with the built
operator library) when it is given.
"""
import glob
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import unittest

TIEBREAK = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else None
ROOT = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else None
OPS_LIBRARY = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else None
BUILD_DIR = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else None

SHELL_LANGS = {"sh", "bash", "shell", "console"}
COMMAND_START = re.compile(r"^((\./)?(tiebreak|torchrun|srun|sbatch|cmake|ctest)(\s|$)|(\./)?(scripts|experiments)/|\(source |\"\$\()")
# Names written in capitals stand for a value the reader supplies (CONFIG, DIR, RUN_DIR...).
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*(\.\.\.)?$|[A-Z]{2,}[A-Z_]*(=|$)|<[^>]*>|…|(^|/)[A-Z][A-Z0-9_]*(\.\w+)?(/|$)")
CHECKOUT_DIRS = ("configs/", "scripts/", "experiments/", "docs/", "reference/", "python/", "tests/", "bench/",
                 "include/", "src/", "apps/", "cmake/")
CONFIG_COMMANDS = {"train", "sweep", "zones", "lr-search", "diverge", "half-check", "config"}
CHEAP = {("--version",), ("demo",), ("data", "verify"), ("config",)}
CONFIG_SECTIONS = {"data", "model", "nonsmooth", "train", "sweep", "zones", "exp", "extends"}


class Command:
    def __init__(self, text, where, fenced, elsewhere=False):
        # elsewhere: an earlier line of the block changed directory, so paths are not the checkout's.
        self.text, self.where, self.fenced, self.elsewhere = text, where, fenced, elsewhere

    def __repr__(self):
        return f"{self.where}: {self.text}"


def doc_files():
    files = [os.path.join(ROOT, "README.md")]
    files += sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    files += sorted(glob.glob(os.path.join(ROOT, "experiments", "*", "README.md")))
    return files


def extract(path):
    """(shell commands, json blocks, python blocks) of a Markdown file, each with file:line."""
    rel = os.path.relpath(path, ROOT)
    commands, jsons, pythons, scripts = [], [], [], []
    lang, block, start, pending, pending_line = None, [], 0, "", 0
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for number, line in enumerate(lines, 1):
        fence = re.match(r"^\s*```(\w*)\s*$", line)
        if fence:
            if lang is None:
                lang, block, start, elsewhere = fence.group(1), [], number, False
            else:
                if lang in SHELL_LANGS:
                    scripts.append((f"{rel}:{start}", "\n".join(
                        b.strip()[2:] if b.strip().startswith("$ ") else b for b in block)))
                    elsewhere = False
                if lang == "json":
                    jsons.append((f"{rel}:{start}", "\n".join(block)))
                elif lang == "python":
                    pythons.append((f"{rel}:{start}", "\n".join(block)))
                lang = None
            continue
        if lang is not None:
            block.append(line)
            text = line.strip()
            if lang in SHELL_LANGS or text.startswith("$ "):
                if lang not in SHELL_LANGS:
                    text = text[2:]
                elif text.startswith("$ "):
                    text = text[2:]
                if not pending:
                    pending_line = number
                if text.endswith("\\"):
                    pending += text[:-1] + " "
                    continue
                text, pending = pending + text, ""
                if text and not text.startswith("#"):
                    commands.append(Command(text, f"{rel}:{pending_line}", fenced=True, elsewhere=elsewhere))
                    elsewhere = elsewhere or re.search(r"(^|[;&(]\s*)cd ", text) is not None
            continue
        for span in re.findall(r"`([^`]+)`", line):
            if COMMAND_START.match(span.strip()):
                commands.append(Command(span.strip(), f"{rel}:{number}", fenced=False))
    return commands, jsons, pythons, scripts


def is_synopsis(text):
    if re.search(r"\[[^\]]*\]|\.\.\.|…|\|", text.replace("||", "")):
        return True
    try:
        tokens = shlex.split(text, comments=True)
    except ValueError:
        return True
    return any(PLACEHOLDER.search(t) for t in tokens[1:] if not t.startswith("$"))


def run(args, **kwargs):
    kwargs.setdefault("timeout", 300)
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


class DocCommandsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if TIEBREAK is None or ROOT is None:
            raise unittest.SkipTest("pass the tiebreak binary and the source root")
        cls.tmp = tempfile.mkdtemp(prefix="tiebreak-docs-")
        cls.env = dict(os.environ)
        cls.env.pop("LD_LIBRARY_PATH", None)  # the installed program must find its libraries itself
        cls.program = TIEBREAK
        if BUILD_DIR:
            # As the README installs it (scripts/install.sh): `cmake --install` into a user prefix.
            prefix = os.path.join(cls.tmp, "prefix")
            r = run(["cmake", "--install", BUILD_DIR, "--prefix", prefix, "--component", "cli"])
            if r.returncode != 0:
                raise AssertionError(f"cmake --install {BUILD_DIR} --prefix {prefix}: {r.stderr.strip()}")
            cls.program = os.path.join(prefix, "bin", "tiebreak")
        # The bare name on PATH, as every documented command uses it.
        cls.env["PATH"] = os.path.dirname(cls.program) + os.pathsep + cls.env.get("PATH", "")
        cls.help_cache = {}
        cls.config_cache = set()

    def test_installed_program_runs_with_its_libraries(self):
        if not BUILD_DIR:
            self.skipTest("no build directory given: nothing installed")
        self.assertNotEqual(os.path.dirname(self.program), os.path.dirname(TIEBREAK))
        r = run(["tiebreak", "--version"], env=self.env, cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("LibTorch", r.stdout)
        # The libraries it loads are the installed ones, not the build tree's.
        r = run(["ldd", self.program], env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        libtiebreak = [l for l in r.stdout.splitlines() if "libtiebreak.so" in l]
        self.assertTrue(libtiebreak and os.path.dirname(os.path.dirname(self.program)) in libtiebreak[0], r.stdout)

    def tiebreak(self, *args):
        return run(["tiebreak", *args], cwd=ROOT, env=self.env)

    def help_of(self, path):
        if path not in self.help_cache:
            self.help_cache[path] = self.tiebreak(*path, "--help")
        return self.help_cache[path]

    def flags_of(self, path):
        r = self.help_of(path)
        return r.returncode, set(re.findall(r"(--[a-z][a-z0-9-]*)", r.stdout))

    def subcommand_path(self, tokens):
        """The longest prefix of tokens that `tiebreak --help` (recursively) lists as subcommands."""
        path = ()
        for t in tokens:
            if t.startswith("-"):
                break
            r = self.help_of(path)
            listed = set(re.findall(r"^  (\S+)\s", r.stdout.split("Subcommands:")[-1], re.M)) \
                if "Subcommands:" in r.stdout else set()
            if t not in listed:
                break
            path += (t,)
        return path

    def check_paths(self, tokens, where):
        for t in tokens:
            for part in t.split("="):
                p = part[2:] if part.startswith("./") else part
                if p.startswith(CHECKOUT_DIRS) and not PLACEHOLDER.search(p) and "*" not in p and "<" not in p:
                    target = os.path.join(ROOT, p.rstrip("/"))
                    self.assertTrue(os.path.exists(target), f"{where}: {p}: no such file in the checkout")

    def check_tiebreak(self, command, tokens):
        where = command.where
        if tokens[:1] == ["--version"] or tokens[:1] == ["--help"]:
            self.assertEqual(self.tiebreak(*tokens).returncode, 0, f"{where}: tiebreak {tokens[0]}")
            return
        path = self.subcommand_path(tokens)
        if not path and is_synopsis(command.text):
            return  # `tiebreak ARGS`
        self.assertTrue(path, f"{where}: `tiebreak {tokens[0] if tokens else ''}`: no such subcommand")
        rc, flags = self.flags_of(path)
        self.assertEqual(rc, 0, f"{where}: tiebreak {' '.join(path)} --help failed")
        args = tokens[len(path):]
        for t in args:
            if t.startswith("--"):
                self.assertIn(t.split("=")[0], flags,
                              f"{where}: tiebreak {' '.join(path)}: no flag {t.split('=')[0]}")
        if is_synopsis(command.text):
            return
        if path[0] in CONFIG_COMMANDS and args and args[0].endswith(".json") and os.path.exists(
                os.path.join(ROOT, args[0])):
            self.check_config(where, args)
        if path in CHEAP:
            r = self.tiebreak(*tokens)
            # `data verify` exits 1 for a named dataset that is absent here: the command itself worked.
            ok = r.returncode == 0 or (path == ("data", "verify") and r.returncode == 1 and "missing" in r.stdout)
            self.assertTrue(ok, f"{where}: `{command.text}` exited {r.returncode}: {r.stderr.strip()}")

    def check_config(self, where, args):
        sets, grids = [], []
        i = 1
        while i < len(args):
            if args[i] in ("--set", "--grid", "--data-root", "--pair", "--values") and i + 1 < len(args):
                flag, value = args[i], args[i + 1]
                if flag == "--set":
                    sets += ["--set", value]
                elif flag == "--data-root":
                    sets += ["--data-root", value]
                else:
                    grids.append(value)
                i += 2
            else:
                i += 1
        variants = [[]]
        for axis in grids:
            key, _, values = axis.partition("=")
            values = values.split(",")
            variants = [v + ["--set", f"{key}={x}"] for v in variants for x in {values[0], values[-1]}]
        for extra in variants:
            key = (args[0], *sets, *extra)
            if key in self.config_cache:
                continue
            self.config_cache.add(key)
            r = self.tiebreak("config", args[0], *sets, *extra)
            self.assertEqual(r.returncode, 0, f"{where}: {args[0]} {' '.join(sets + extra)}: {r.stderr.strip()}")

    def check_command(self, command):
        text = command.text
        where = command.where
        try:
            tokens = shlex.split(text, comments=True)
        except ValueError as e:
            self.fail(f"{where}: {e}")
        if not command.elsewhere and not re.search(r"(^|[;&(]\s*)cd ", text):
            self.check_paths([t for t in tokens if "$" not in t], where)
        # Leading VAR=value assignments, then launchers in front of the program.
        while tokens and re.match(r"^[A-Z_][A-Z0-9_]*=", tokens[0]):
            tokens = tokens[1:]
        if tokens[:1] == ["torchrun"] and len(tokens) > 1:
            self.assertIn("--no-python", tokens, f"{where}: torchrun needs --no-python to start a program")
            tokens = tokens[tokens.index("--no-python") + 1:]
        if tokens[:1] == ["srun"]:
            tokens = tokens[1:]
        if not tokens or tokens == ["tiebreak"]:
            return  # `tiebreak` alone names the project or its namespace
        program = tokens[0]
        if program == "tiebreak" or program.endswith("scripts/tiebreak"):
            self.check_tiebreak(command, tokens[1:])
        elif re.match(r"^(\./)?(scripts|experiments)/", program):
            if PLACEHOLDER.search(program):
                return
            path = os.path.join(ROOT, program[2:] if program.startswith("./") else program)
            self.assertTrue(os.path.exists(path), f"{where}: {program}: no such file")
            if len(tokens) > 1 or command.fenced:
                ok = os.access(path, os.X_OK) or path.endswith(".py")
                self.assertTrue(ok, f"{where}: {program}: not executable")
        elif "tiebreak_python)" in text and not is_synopsis(text):
            # The project's Python as the docs reach it (source scripts/env.sh, then "$(tiebreak_python)"):
            # run that much of the command, with matplotlib imported instead of the script.
            end = text.index("tiebreak_python)") + len("tiebreak_python)")
            end += text[end:].startswith('"')
            probe = text[:end] + " -c 'import matplotlib'" + (")" if text.startswith("(") else "")
            r = run(["bash", "-c", probe], cwd=ROOT, env=self.env)
            self.assertEqual(r.returncode, 0, f"{where}: `{probe}` failed: {r.stderr.strip()}")

    def test_shell_commands(self):
        count = 0
        for path in doc_files():
            commands, _, _, scripts = extract(path)
            for where, script in scripts:
                if not is_synopsis(script):
                    with self.subTest(block=where):
                        r = run(["bash", "-n", "-c", script])
                        self.assertEqual(r.returncode, 0, f"{where}: does not parse: {r.stderr.strip()}")
            for command in commands:
                count += 1
                with self.subTest(command=repr(command)):
                    self.check_command(command)
        self.assertGreater(count, 30, "the extractor found almost no commands: is the Markdown parsed?")

    def test_json_config_fragments(self):
        for path in doc_files():
            _, jsons, _, _ = extract(path)
            for where, text in jsons:
                try:
                    document = json.loads(text)
                except json.JSONDecodeError:
                    try:
                        document = json.loads("{" + text + "}")
                    except json.JSONDecodeError:
                        continue  # not JSON meant to be pasted (a schema sketch)
                if not isinstance(document, dict) or not document or not set(document) <= CONFIG_SECTIONS:
                    continue
                with self.subTest(block=where):
                    config = os.path.join(self.tmp, "fragment.json")
                    with open(config, "w") as f:
                        json.dump(document, f)
                    r = self.tiebreak("config", config)
                    self.assertEqual(r.returncode, 0, f"{where}: {r.stderr.strip()}")

    def test_python_blocks(self):
        if OPS_LIBRARY is None:
            self.skipTest("no operator library given")
        env = dict(self.env, PYTHONPATH=os.path.join(ROOT, "python"), TIEBREAK_OPS_LIBRARY=OPS_LIBRARY)
        for path in doc_files():
            _, _, pythons, _ = extract(path)
            for where, text in pythons:
                if "runs/" in text:  # needs a run's output: checked where the recipe is tested
                    continue
                with self.subTest(block=where):
                    r = run([sys.executable, "-c", text], cwd=self.tmp, env=env)
                    self.assertEqual(r.returncode, 0, f"{where}: {r.stderr.strip()[-2000:]}")


if __name__ == "__main__":
    unittest.main()
