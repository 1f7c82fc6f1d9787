// swift-tools-version:6.1
// Builds the protoc plugins used by scripts/generate.sh. Only that script needs it;
// the product itself never builds this package.
import PackageDescription

let package = Package(
    name: "cloudstor-codegen",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    ]
)
