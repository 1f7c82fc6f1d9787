// swift-tools-version:6.1
// Builds the protoc plugin used by scripts/generate.sh. Only that script needs it;
// the product itself never builds this package.
import PackageDescription

let package = Package(
    name: "cloudstor-codegen",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ]
)
