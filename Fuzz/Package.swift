// swift-tools-version:6.1
// Fuzz targets for Cloudstor's input boundaries (issue 27). A package of its own, so
// the root package's build is untouched: `Fuzz/run.sh` builds it with libFuzzer and
// AddressSanitizer into .build-fuzz and runs every target.
//
// The product's libraries come from the root package (`Cloudstor` is a symlink to
// `..`, so its identity is `cloudstor` whatever the clone's directory is called).
import PackageDescription

let package = Package(
    name: "cloudstor-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "Cloudstor"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // One executable per boundary (Targets/<name>).
        .target(name: "FuzzSupport", path: "Targets/FuzzSupport"),
        .executableTarget(
            name: "shim_http",
            dependencies: [
                "FuzzSupport", .product(name: "CloudstorInternals", package: "cloudstor"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Targets/shim_http"
        ),
        .executableTarget(
            name: "shim_json",
            dependencies: [
                "FuzzSupport", .product(name: "CloudstorInternals", package: "cloudstor"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Targets/shim_json"
        ),
        .executableTarget(
            name: "grpc_message",
            dependencies: [
                "FuzzSupport", .product(name: "CloudstorInternals", package: "cloudstor"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Targets/grpc_message"
        ),
        .executableTarget(
            name: "grpc_connection",
            dependencies: [
                "FuzzSupport", .product(name: "CloudstorInternals", package: "cloudstor"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            ],
            path: "Targets/grpc_connection"
        ),
        .executableTarget(
            name: "volume_options",
            dependencies: ["FuzzSupport", .product(name: "CloudstorInternals", package: "cloudstor")],
            path: "Targets/volume_options"
        ),
        .executableTarget(
            name: "ec2_xml",
            dependencies: ["FuzzSupport", .product(name: "CloudstorInternals", package: "cloudstor")],
            path: "Targets/ec2_xml"
        ),
        .executableTarget(
            name: "efs_json",
            dependencies: ["FuzzSupport", .product(name: "CloudstorInternals", package: "cloudstor")],
            path: "Targets/efs_json"
        ),
        .executableTarget(
            name: "imds",
            dependencies: [
                "FuzzSupport", .product(name: "CloudstorInternals", package: "cloudstor"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Targets/imds"
        ),
    ],
    swiftLanguageModes: [.v6]
)
