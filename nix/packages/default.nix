# The project's three applications from one source tree and pyproject.toml: the node
# automation (`fba`), the Raft stand-ins (`standin-*`) and the VM harness (`cluster-test`).
# Dependencies and console scripts are read from pyproject.toml, not retyped: each
# application gets `project.dependencies` plus its extra, and keeps only its own scripts.
# Plus `fba-inject`, the guest side of the harness's fw_cfg injection.
{
  lib,
  python3Packages,
  runCommand,
}:
let
  py = python3Packages;
  root = ../..;
  pyproject = lib.importTOML (root + "/pyproject.toml");
  inherit (pyproject) project;

  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      (root + "/pyproject.toml")
      (lib.fileset.maybeMissing (root + "/README.md"))
      (root + "/automation")
      (root + "/harness")
      (root + "/standins")
    ];
  };

  # qemu.qmp is not in every nixpkgs release.
  qemu-qmp =
    py.qemu-qmp or (py.buildPythonPackage rec {
      pname = "qemu-qmp";
      version = "0.0.6";
      pyproject = true;
      src = py.fetchPypi {
        pname = "qemu_qmp";
        inherit version;
        hash = "sha256-o8Jdhx+rVJEisjQIEN4fmUgQAslCohMkdrBiqs2/bpI=";
      };
      build-system = [
        py.setuptools
        py.setuptools-scm
        py.wheel
      ];
      pythonImportsCheck = [ "qemu.qmp" ];
      meta = {
        description = "QEMU Monitor Protocol library";
        homepage = "https://gitlab.com/qemu-project/python-qemu-qmp";
        license = lib.licenses.gpl2Only;
      };
    });

  # "pydantic>=2.6,<3" -> python3Packages.pydantic; "qemu.qmp>=0.0.3" -> qemu-qmp
  requirement =
    spec:
    let
      name = lib.toLower (
        builtins.replaceStrings [ "." "_" ] [ "-" "-" ] (builtins.head (builtins.match "([A-Za-z0-9._-]+).*" spec))
      );
    in
    if name == "qemu-qmp" then qemu-qmp else py.${name};

  mkApp =
    {
      pname,
      extra ? null,
      package, # the Python package whose console scripts this application keeps
      mainProgram,
      description,
    }:
    let
      scripts = builtins.attrNames (lib.filterAttrs (_: entry: lib.hasPrefix "${package}." entry) project.scripts);
    in
    py.buildPythonApplication {
      inherit pname src;
      inherit (project) version;
      pyproject = true;
      build-system = [
        py.setuptools
        py.wheel
      ];
      dependencies = map requirement (
        project.dependencies ++ lib.optionals (extra != null) project.optional-dependencies.${extra}
      );
      # One wheel holds all three packages; drop the other applications' entry points
      # (they would fail for lack of their extra's dependencies).
      postInstall = ''
        for f in $out/bin/* $out/bin/.*-wrapped; do
          [ -e "$f" ] || continue
          name=$(basename "$f"); name=''${name#.}; name=''${name%-wrapped}
          case " ${toString scripts} " in *" $name "*) ;; *) rm -f "$f" ;; esac
        done
      '';
      pythonImportsCheck = [ package ];
      # The test suite runs in CI (.ci/run) and in the flake's checks.
      doCheck = false;
      meta = {
        inherit description mainProgram;
        license = lib.licenses.asl20;
        platforms = lib.platforms.linux;
      };
    };
in
{
  fba = mkApp {
    pname = "first-boot-automation";
    package = "automation";
    mainProgram = "fba";
    description = "First-boot cluster bootstrap/join automation (fba)";
  };
  standins = mkApp {
    pname = "fba-standins";
    extra = "standins";
    package = "standins";
    mainProgram = "standin-chainfire";
    description = "Stand-in chainfire, flaredb and iam services over pysyncobj Raft";
  };
  cluster-test = mkApp {
    pname = "fba-cluster-test";
    extra = "harness";
    package = "harness";
    mainProgram = "cluster-test";
    description = "QEMU harness that boots a three-node cluster and checks first-boot automation";
  };
  # The same stdlib-only program the Debian image runs at boot, so both images read the
  # harness's fw_cfg blob (format fba-inject/1) one way; only the interpreter path changes.
  fba-inject =
    runCommand "fba-inject"
      {
        meta = {
          description = "Write a node's files from the QEMU fw_cfg blob opt/fba/inject at boot";
          mainProgram = "fba-inject";
          license = lib.licenses.asl20;
          platforms = lib.platforms.linux;
        };
      }
      ''
        install -D -m 0755 ${root + "/harness/image/guest/fba-inject.py"} $out/bin/fba-inject
        substituteInPlace $out/bin/fba-inject --replace-fail "#!/usr/bin/python3" "#!${py.python.interpreter}"
        $out/bin/fba-inject --help > /dev/null
      '';
}
