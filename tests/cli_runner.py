"""Run console scripts as their installed launchers do, many in one Python process so torch is imported once.
As a script: a JSON list of [launcher path, args, folder to run in, environment additions] on stdin, a JSON list
of [exit status, stdout, stderr, seconds] on stdout. Tests call `run_many`."""
import io, json, os, runpy, subprocess, sys, time, traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path


def run_script(path: str, args: list, cwd: str, env: dict) -> list:
    "One launcher run as `__main__` with `args`, in `cwd`: its exit status, what it printed and how long it took."
    out, err, saved, t0 = io.StringIO(), io.StringIO(), (os.getcwd(), dict(os.environ), sys.argv), time.perf_counter()
    os.chdir(cwd); os.environ.update(env); sys.argv = [path, *args]
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try: runpy.run_path(path, run_name='__main__'); status = 0
            except SystemExit as e:                          # how argparse and the launchers end
                status = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
                if not isinstance(e.code, (int, type(None))): print(e.code, file=sys.stderr)
            except BaseException: traceback.print_exc(); status = 1      # what an uncaught error shows a user
    finally:
        os.chdir(saved[0]); os.environ.clear(); os.environ.update(saved[1]); sys.argv = saved[2]
    return [status, out.getvalue(), err.getvalue(), time.perf_counter() - t0]


def run_many(jobs: list) -> list:
    "`jobs` ([script name, args, folder, environment additions] each) in one fresh Python process: a dict per job."
    bin_dir = Path(sys.executable).parent
    jobs = [[str(bin_dir / script), [str(a) for a in args], str(cwd), env] for script, args, cwd, env in jobs]
    r = subprocess.run([sys.executable, __file__], input=json.dumps(jobs), capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS='1'), timeout=600)
    assert r.returncode == 0, r.stderr
    return [dict(zip(['returncode', 'stdout', 'stderr', 'seconds'], res)) for res in json.loads(r.stdout)]


if __name__ == '__main__':
    print(json.dumps([run_script(*job) for job in json.load(sys.stdin)]))
