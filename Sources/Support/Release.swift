/// This release of Cloudstor: `--version` of each command, and the `version`
/// label of the `cloudstor_build_info` metric. libcloudstor/Makefile's VERSION
/// is the same (tests/test_libcloudstor.py checks).
public enum Release {
    public static let version = "0.1.0"
}
