/// This release of Cloudstor: `cloudstor --version`, and the `version` label of
/// the `cloudstor_build_info` metric. libcloudstor/Makefile's VERSION moves with it.
public enum Release {
    public static let version = "0.1.0"
}
