{
  description = "First-boot automation: chainfire/flaredb/iam cluster bootstrap and join on NixOS";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";
    disko = {
      url = "github:nix-community/disko";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      disko,
    }:
    let
      system = "x86_64-linux";
      inherit (nixpkgs) lib;
      pkgs = import nixpkgs {
        inherit system;
        overlays = [ self.overlays.default ];
      };
      withOverlay = {
        nixpkgs.overlays = [ self.overlays.default ];
      };

      # node01..node03: each directory under vms/ with a configuration.nix
      nodes = builtins.filter (n: builtins.pathExists ./vms/${n}/configuration.nix) (
        builtins.attrNames (lib.filterAttrs (_: kind: kind == "directory") (builtins.readDir ./vms))
      );

      netboot = self.nixosConfigurations.netboot-control-plane.config;
      netbootImage = pkgs.linkFarm "fba-netboot" [
        {
          name = netboot.system.boot.loader.kernelFile;
          path = "${netboot.system.build.kernel}/${netboot.system.boot.loader.kernelFile}";
        }
        {
          name = "initrd";
          path = "${netboot.system.build.netbootRamdisk}/initrd";
        }
        {
          name = "netboot.ipxe";
          path = "${netboot.system.build.netbootIpxeScript}/netboot.ipxe";
        }
        {
          name = "boot.ipxe";
          path = ./netboot/boot.ipxe;
        }
      ];
      # What netboot.ipxe passes to the kernel, for direct -kernel/-initrd boots.
      netbootCmdline = "init=${netboot.system.build.toplevel}/init ${toString netboot.boot.kernelParams}";

      standin = service: {
        lib,
        pkgs,
        ...
      }: {
        imports = [ ./nix/modules/standin-${service}.nix ];
        services."standin-${service}".package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.standins;
      };
    in
    {
      overlays.default =
        final: _prev:
        let
          apps = final.callPackage ./nix/packages { };
        in
        {
          first-boot-automation = apps.fba;
          fba-standins = apps.standins;
          fba-cluster-test = apps.cluster-test;
          fba-inject = apps.fba-inject;
        };

      nixosModules = {
        first-boot-automation =
          { lib, pkgs, ... }:
          {
            imports = [ ./nix/modules/first-boot-automation.nix ];
            services.first-boot-automation.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.fba;
          };
        default = self.nixosModules.first-boot-automation;
        standin-chainfire = standin "chainfire";
        standin-flaredb = standin "flaredb";
        standin-iam = standin "iam";
      };

      nixosConfigurations =
        lib.genAttrs nodes (
          name:
          lib.nixosSystem {
            inherit system;
            modules = [
              withOverlay
              disko.nixosModules.disko
              ./vms/${name}/configuration.nix
            ];
          }
        )
        // {
          netboot-control-plane = lib.nixosSystem {
            inherit system;
            modules = [
              withOverlay
              ./netboot/netboot-control-plane.nix
            ];
          };
        };

      packages.${system} = {
        fba = pkgs.first-boot-automation;
        standins = pkgs.fba-standins;
        cluster-test = pkgs.fba-cluster-test;
        fba-inject = pkgs.fba-inject;
        default = pkgs.first-boot-automation;
        netboot = netbootImage;
        netboot-kernel = netboot.system.build.kernel;
        netboot-initrd = netboot.system.build.netbootRamdisk;
        netboot-ipxe = netboot.system.build.netbootIpxeScript;
      };

      # The harness with the Nix-built image instead of its Debian builder. Relies on the
      # cluster-test flags --kernel/--initrd/--cmdline (see docs/nix.md).
      apps.${system}.cluster-test = {
        type = "app";
        program = lib.getExe (
          pkgs.writeShellApplication {
            name = "cluster-test-nix";
            runtimeInputs = [
              pkgs.fba-cluster-test
              pkgs.qemu_kvm
              pkgs.iproute2
              pkgs.nftables
              pkgs.dnsmasq
              pkgs.openssh
              pkgs.socat
            ];
            text = ''
              exec cluster-test \
                --kernel ${netbootImage}/${netboot.system.boot.loader.kernelFile} \
                --initrd ${netbootImage}/initrd \
                --cmdline ${lib.escapeShellArg netbootCmdline} \
                "$@"
            '';
          }
        );
      };

      checks.${system} = {
        inherit (self.packages.${system}) fba standins cluster-test fba-inject;
        # nix/units.json is what `python -m automation.render` prints today.
        units-json-fresh =
          pkgs.runCommand "units-json-fresh"
            {
              nativeBuildInputs = [
                (pkgs.python3.withPackages (ps: [
                  ps.pydantic
                  ps.tenacity
                  ps.cryptography
                ]))
              ];
            }
            ''
              cd ${./.}
              python -m automation.render | diff -u nix/units.json - && touch $out
            '';
        vm-bootstrap = pkgs.testers.runNixOSTest (import ./nix/tests/bootstrap.nix { inherit self; });
      };

      devShells.${system}.default = pkgs.mkShell {
        inputsFrom = [
          pkgs.first-boot-automation
          pkgs.fba-standins
          pkgs.fba-cluster-test
        ];
        packages = [
          pkgs.python3
          pkgs.qemu_kvm
          pkgs.nixfmt-rfc-style
          pkgs.ruff
          pkgs.mypy
        ];
      };

      formatter.${system} = pkgs.nixfmt-rfc-style;
    };
}
