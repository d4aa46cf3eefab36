"""Command line: ``python -m gan_ad run --name NAME -p KEY VALUE ... [--seeds N]``, ``sweep GRID.yaml``, ``bench``, ``params``, ``export-folder``, ``export``, ``webapp-bench``, ``assign``, ``grade``."""
import argparse
import sys
from pathlib import Path

from . import quiet

quiet.tensorflow()  # before the modules below start TensorFlow: its C++ start-up log stays off the terminal

import papermill as pm  # noqa: E402

from . import assignments, data, grading, metrics, params as declared, runner, sweep  # noqa: E402
from .detector_base import DetectorError  # noqa: E402
from .files import PROJECT_ROOT, MissingStepError  # noqa: E402
from .report import update_pages  # noqa: E402
from .runs import Run  # noqa: E402
from .webapp_bench import main as bench_main  # noqa: E402


def main(argv=None):
    """Parse the command line and run it; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m gan_ad", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute the pipeline notebooks with papermill into runs/NAME/")
    run.add_argument("--name", default="default", help="run folder under runs/ (default: default)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                     help="set a notebook parameter; VALUE is read as YAML (5, 0.1, [0, 1], text)")
    run.add_argument("-f", "--parameters-file", help="YAML file of parameters (-p wins over it)")
    run.add_argument("--prepare-only", action="store_true", help="write the parameterised notebooks without running them")
    run.add_argument("--from", dest="start", metavar="NOTEBOOK", choices=runner.PIPELINE,
                     help="rerun an existing run from this notebook on (e.g. 03_latent_inversion), with the parameters it was made with")
    run.add_argument("--to", dest="stop", metavar="NOTEBOOK", choices=runner.PIPELINE,
                     help="stop after this notebook (e.g. 02_train_gan: what notebook 03 needs, in a fresh Colab runtime)")
    run.add_argument("--seeds", type=int, default=0, metavar="N",
                     help="run seeds 0..N-1 into runs/NAME/seed=K and report mean ± std")
    grid_cmd = sub.add_parser("sweep", help="run the pipeline over a grid of parameters (see gan_ad/sweep.py)")
    grid_cmd.add_argument("grid", help="YAML file with name, fixed and grid")
    for batch in (run, grid_cmd):  # several runs at once: see gan_ad/sweep.py and docs/batch-runs.md, Running on a cluster
        batch.add_argument("--workers", type=int, default=1, metavar="N",
                           help="runs at once on this machine, each with cores/N threads (default: 1, one after another)")
        batch.add_argument("--cluster", metavar="ADDRESS", help="run each run as a task of the Dask scheduler at ADDRESS")
    listing = sub.add_parser("params", help="list every parameter: its notebooks, default, what it takes and its meaning")
    listing.add_argument("--markdown", action="store_true", help="as a Markdown table (for the docs)")
    sub.add_parser("readme", help="regenerate the result tables of README.md and docs/*.md from figures/ (see gan_ad/report.py)")
    timing = sub.add_parser("bench", help="time every detector of a finished run on its test set (see gan_ad/bench.py)")
    timing.add_argument("--run", default="runs/default", help="the run folder (default: runs/default)")
    timing.add_argument("--anogan-steps", type=int, default=500, help="AnoGAN search steps per image (default: 500)")
    timing.add_argument("--anogan-images", type=int, default=500,
                        help="test images AnoGAN scores; its time is extrapolated to all (default: 500)")
    pairs = sub.add_parser("pairs", help="test AUROC of each anomalous class against each normal class, for one detector of a run")
    pairs.add_argument("--run", default="runs/default", help="the run folder (default: runs/default)")
    pairs.add_argument("--detector", help="its key, e.g. feature_knn (default: the run's best on validation)")
    export = sub.add_parser("export-folder", help="write a dataset as an image folder train/CLASS/*.png, test/CLASS/*.png")
    export.add_argument("dataset", help="mnist, fashion_mnist or the path of an .npz dataset")
    export.add_argument("folder", help="the folder to create (must not exist, or be empty)")
    export.add_argument("--max-per-class", type=int, default=0, metavar="N",
                        help="keep the first N images of each class in each part (default: all)")
    webapp = sub.add_parser("export", help="export a finished run for the web app (ONNX networks, kNN index, threshold; see gan_ad/export.py)")
    webapp.add_argument("--run", default="runs/default", help="the run folder (default: runs/default)")
    webapp.add_argument("--out", required=True, help="the folder to write (replaced as a whole)")
    site = sub.add_parser("webapp", help="build the web app of a finished run: the page, onnxruntime-web and the export (make webapp)")
    site.add_argument("--run", default="runs/default", help="the run folder (default: runs/default)")
    site.add_argument("--out", help="the folder to write (default: RUN/webapp)")
    for command in (webapp, site):
        command.add_argument("--judge", metavar="KEY", help="the detector to judge with (default: the best on validation "
                             "among those a browser computes: feature_knn, encoder_memory, pixel_knn, pca)")
    webbench = sub.add_parser("webapp-bench", help="measure the built web app of a run in Chromium (see gan_ad/webapp_bench.py)")
    webbench.add_argument("--run", default="runs/default", help="the run folder (default: runs/default)")
    webbench.add_argument("--site", help="the built web app (default: RUN/webapp, built by make webapp)")
    webbench.add_argument("--screenshot", metavar="PNG", help="also save a picture of the page judging a drawn 7")
    assignments_cli(sub)
    args = parser.parse_args(argv)

    if args.command in ("export", "webapp", "bench"):
        return network_command(args)
    if args.command == "webapp-bench":
        return bench_main(args.run, args.site, args.screenshot)
    if args.command in ("assign", "grade"):
        return assignments_main(args)
    if args.command == "export-folder":
        try:
            written = data.export_folder(args.dataset, args.folder, args.max_per_class)
        except data.DataError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"Wrote {written['train']:,} training and {written['test']:,} test images to {args.folder} "
              f"(train/CLASS/*.png, test/CLASS/*.png); use it with -p dataset {args.folder}")
        return 0
    if args.command == "readme":
        changed = update_pages()
        print("Generated tables " + (f"updated from figures/ in {', '.join(str(p.relative_to(PROJECT_ROOT)) for p in changed)}"
                                     if changed else "of README.md and docs/ already match figures/"))
        return 0
    if args.command == "params":
        print(declared.table(markdown=args.markdown), end="")
        return 0
    if args.command == "pairs":
        try:
            print(pair_table(args.run, args.detector))
        except (MissingStepError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    try:
        if args.command == "sweep":
            name, fixed, grid = sweep.read_grid(args.grid)
            return report(sweep.run_grid(name, fixed, grid, workers=args.workers, cluster=args.cluster),
                          [k for k in grid if k != "seed"])
        params = declared.from_command_line(args.parameters_file, args.parameter)
        if args.seeds:
            if args.start or args.stop:
                raise runner.ParameterError("--from and --to run part of one run; give --name NAME/seed=K instead of --seeds.")
            if "seed" in params:
                raise runner.ParameterError("--seeds sets the seed of each run; drop -p seed.")
            grid = {"seed": list(range(args.seeds))}
            sweep.check_grid(params, grid)  # every run's parameters, before the first starts
            return report(sweep.run_grid(args.name, params, grid, workers=args.workers, cluster=args.cluster), [])
        if args.workers != 1 or args.cluster:
            raise runner.ParameterError("--workers and --cluster share out several runs; give --seeds N too.")
        first = runner.PIPELINE.index(args.start) if args.start else 0
        last = runner.PIPELINE.index(args.stop) if args.stop else len(runner.PIPELINE) - 1
        if last < first:
            raise runner.ParameterError(f"--to {args.stop} comes before --from {args.start}.")
        notebooks = runner.PIPELINE[first:last + 1]
        run_dir = runner.run_pipeline(args.name, params, prepare_only=args.prepare_only, notebooks=notebooks,
                                       resume=args.start is None)
    except (runner.ParameterError, sweep.SweepError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except pm.PapermillExecutionError as err:
        print(f"error: {err.ename}: {err.evalue}\nThe executed notebook with the full traceback is in runs/{args.name}/.",
              file=sys.stderr)
        return 1
    if args.prepare_only:
        print(f"Notebooks written to {run_dir}")
    elif notebooks[-1] != runner.PIPELINE[-1]:
        print(f"Ran {', '.join(notebooks)}; the results are in {run_dir}")
    else:
        print(runner.summary(run_dir))
    return 0


def network_command(args):
    """``export``, ``webapp`` and ``bench``: the commands that load networks. They import TensorFlow here, as it takes
    seconds to start, so that the other commands (``run``, ``sweep``, ``grade`` ...) start without it."""
    from . import bench
    from .export import ExportError, build_site, export as export_run

    if args.command == "export":
        try:
            manifest = export_run(args.run, args.out, args.judge)
        except ExportError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        judge = manifest["judge"]
        print(f"Exported {args.run} to {args.out}: judged by {judge['label']} (threshold {judge['threshold']:.4f}), "
              f"{len(manifest['files'])} files listed in manifest.json")
        return 0
    if args.command == "webapp":
        out = args.out or str(Path(args.run) / "webapp")
        try:
            manifest = build_site(args.run, out, args.judge)
        except ExportError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"Built the web app of {args.run} in {out} (judged by {manifest['judge']['label']}); serve it with "
              f"python -m http.server --bind 127.0.0.1 --directory {out}")
        return 0
    if args.command == "bench":
        try:
            bench.run_bench(args.run, args.anogan_steps, args.anogan_images)
        except (MissingStepError, DetectorError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print((Path(args.run) / "bench.md").read_text() + f"Saved in {Path(args.run) / 'bench.json'}")
        return 0


def pair_table(run_dir, key=None):
    """The per-pair test AUROCs of one detector of a finished run (:func:`gan_ad.metrics.auroc_per_pair`), as Markdown."""
    run = Run(run_dir)
    results = run.metrics()
    key = key or results["best_on_validation"]
    scores = run.arrays("test_scores.npz")
    if key not in scores:
        raise ValueError(f"{run_dir} has no test scores of {key!r}; its detectors: {', '.join(sorted(results['detectors']))}.")
    table = metrics.auroc_per_pair(*metrics.scored(scores[key], scores["digits"], scores["is_anomaly"]))  # AnoGAN: its sample
    worst = ", ".join(f"{a} vs {n} {table.loc[a, n]:.3f}" for a, n in table.stack().sort_values().index[:3])
    return (f"Test AUROC of {results['detectors'][key]['label']} for each anomalous class (rows) against each normal "
            f"class (columns); the hardest pairs: {worst}.\n\n" + table.to_markdown(floatfmt=".3f"))


def assignments_cli(sub):
    """The instructor's commands: student versions (gan_ad/assignments.py), and grading a folder of submissions (gan_ad/grading.py)."""
    assign = sub.add_parser("assign", help="write the student versions of notebooks 01-05 (solutions and hidden tests removed)")
    assign.add_argument("--out", default="release", help="folder for the student versions (default: release)")
    grade = sub.add_parser("grade", help="autograde SUBMISSIONS/STUDENT/NN_name.ipynb into a grade book and feedback")
    grade.add_argument("submissions", help="folder with one folder of notebooks per student")
    grade.add_argument("--out", default="grades", help="folder for gradebook.csv, totals.csv and feedback/ (default: grades)")
    grade.add_argument("--workers", type=int, metavar="N", help="submissions graded at once on this machine (default: its cores)")
    grade.add_argument("--cluster", metavar="ADDRESS", help="grade each submission as a task of the Dask scheduler at ADDRESS")
    grade.add_argument("--time-limit", type=float, default=grading.TIME_LIMIT, metavar="S",
                       help=f"seconds one notebook may run (default: {grading.TIME_LIMIT})")
    grade.add_argument("--cell-time-limit", type=float, default=grading.CELL_TIME_LIMIT, metavar="S",
                       help=f"seconds one cell may run before it is interrupted (default: {grading.CELL_TIME_LIMIT})")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run the submissions without bubblewrap (no network or file isolation, no process limit)")
    grade.add_argument("--memory-limit", type=float, default=grading.MEMORY_LIMIT, metavar="GB",
                       help=f"address space of each grading process, in GB (default: {grading.MEMORY_LIMIT:g})")
    grade.add_argument("--process-limit", type=int, default=grading.PROCESS_LIMIT, metavar="N",
                       help=f"processes and threads of one submission's sandbox (default: {grading.PROCESS_LIMIT})")
    for command in (assign, grade):
        command.add_argument("--source", metavar="DIR",
                             help="the instructor source: solutions, points, hidden tests (default: course/); keep it private")
        command.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                             help="change a student parameter (default: those of gan_ad/tiny.yaml); VALUE is read as YAML")
        command.add_argument("-f", "--parameters-file", help="YAML file of parameters (-p wins over it)")


def assignments_main(args):
    """Run ``assign`` or ``grade``; exit status 2 for a refused command line."""
    try:
        changes = declared.from_command_line(args.parameters_file, args.parameter)
        if args.command == "assign":
            written = assignments.make_release(args.out, changes, source=args.source)
            print(f"Wrote {len(written)} files to {args.out}: the student notebooks, tests/ (visible tests) and README.md")
            return 0
        book = grading.grade_folder(args.submissions, args.out, changes, workers=args.workers, cluster=args.cluster,
                                    time_limit=args.time_limit, cell_time_limit=args.cell_time_limit, source=args.source,
                                    sandbox=not args.no_sandbox, memory_limit=args.memory_limit,
                                    process_limit=args.process_limit)
    except (assignments.AssignmentError, declared.ParameterError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    scored = book[book["exercise"] != ""]
    students = scored["student"].nunique()
    print(f"Grade book: {Path(args.out) / 'gradebook.csv'} ({students} student{'s' * (students != 1)}, "
          f"{int((scored['status'] == 'graded').sum())} of {len(scored)} exercises graded); "
          f"totals.csv and feedback/STUDENT.md beside it")
    return 0


def report(results, by):
    """Print a sweep's mean ± std table and failures; exit status 1 if any run failed."""
    ok = results[results["status"] == "ok"]
    if len(ok):
        print(sweep.mean_std(sweep.summarise(ok, by)).to_string())
    failed = results[results["status"] == "failed"]
    for _, row in failed.iterrows():
        print(f"failed: {row.drop(['status', 'error']).dropna().to_dict()}: {row['error']}", file=sys.stderr)
    return 1 if len(failed) else 0


if __name__ == "__main__":
    sys.exit(main())
