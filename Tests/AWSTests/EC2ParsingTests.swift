import Foundation
import Testing

@testable import CloudstorAWS

@Suite struct EC2ParsingTests {
    @Test func volumesAreReadByNameInAnyOrder() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <DescribeVolumesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
              <requestId>r-1</requestId>
              <volumeSet>
                <item>
                  <tagSet><item><key>CloudstorVolume</key><value>web-1</value></item><item><key>StackID</key><value>abc</value></item></tagSet>
                  <status>in-use</status><size>10</size><newElementAwsAddedLater>x</newElementAwsAddedLater>
                  <attachmentSet><item><volumeId>vol-1</volumeId><instanceId>i-9</instanceId><device>/dev/xvdf</device><status>attached</status></item></attachmentSet>
                  <volumeId>vol-1</volumeId><availabilityZone>us-east-1a</availabilityZone><volumeType>io1</volumeType><iops>500</iops>
                  <snapshotId/><createTime>2026-11-26T10:00:00.000Z</createTime>
                </item>
              </volumeSet>
              <nextToken>page-2</nextToken>
            </DescribeVolumesResponse>
            """
        let tree = try #require(XMLTree.parse(Array(xml.utf8)))
        let volume = try tree.items("volumeSet")[0].volume()
        #expect(volume.volumeID == "vol-1" && volume.sizeGiB == 10 && volume.state == "in-use" && volume.iops == 500)
        #expect(volume.snapshotID == nil)
        #expect(volume.tags == ["CloudstorVolume": "web-1", "StackID": "abc"])
        #expect(volume.attachments == [EC2Attachment(volumeID: "vol-1", instanceID: "i-9", device: "/dev/xvdf", state: "attached")])
        #expect(tree.string("nextToken") == "page-2")
    }

    @Test func volumeModificationsAreRead() throws {
        let xml = """
            <DescribeVolumesModificationsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
              <volumeModificationSet>
                <item><volumeId>vol-1</volumeId><modificationState>optimizing</modificationState><progress>60</progress>
                  <startTime>2026-12-07T10:00:00.000Z</startTime><targetSize>30</targetSize><originalSize>10</originalSize></item>
                <item><volumeId>vol-2</volumeId><modificationState>failed</modificationState><statusMessage>transient</statusMessage></item>
              </volumeModificationSet>
            </DescribeVolumesModificationsResponse>
            """
        let tree = try #require(XMLTree.parse(Array(xml.utf8)))
        let items = try tree.items("volumeModificationSet").map { try $0.volumeModification() }
        #expect(items.map(\.volumeID) == ["vol-1", "vol-2"])
        #expect(items[0].state == "optimizing" && items[0].progress == 60)
        #expect(items[0].startTime == "2026-12-07T10:00:00.000Z")
        #expect(items[1].state == "failed" && items[1].progress == 0 && items[1].statusMessage == "transient")
        #expect(throws: AWSError.self) { try XMLTree.parse(Array("<a><progress>1</progress></a>".utf8))!.volumeModification() }
    }

    /// Found by fuzzing (Fuzz/regressions/ec2_xml): FoundationXML trapped on an
    /// element name that is not UTF-8, so any such reply stopped the daemon.
    @Test func aBodyThatIsNotUTF8IsNotXML() {
        #expect(XMLTree.parse([UInt8(ascii: "<")] + [UInt8](repeating: 0xFF, count: 83)) == nil)
        #expect(XMLTree.parse(Array("<a><b>ü</b></a>".utf8))?.find("b")?.text == "ü")
    }

    /// Found by fuzzing: FoundationXML crashed (strlen of NULL) on a processing
    /// instruction without data. AWS sends none, nor DOCTYPEs: both are refused;
    /// the XML declaration is taken.
    @Test func processingInstructionsAndDoctypesAreNotEC2Replies() {
        #expect(XMLTree.parse(Array("<?xml?>\n<a><?pi?></a>".utf8)) == nil)
        #expect(XMLTree.parse(Array("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>".utf8)) == nil)
        #expect(XMLTree.parse(Array("<a><![CDATA[x]]></a>".utf8)) == nil)
        let declared = XMLTree.parse(Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a><b>1 &lt; 2</b></a>".utf8))
        #expect(declared?.find("b")?.text == "1 < 2")
        // The declaration without a version, which libxml2 reads as an instruction
        // without data (the fifth crash, found by `make test`'s fuzz run in CI).
        #expect(XMLTree.parse(Array("<?xml?>\n<a><b>c</b></a>".utf8))?.find("b")?.text == "c")
        #expect(XMLTree.parse(Array("<?xml?>\n<CreateVolumeRe=\"http://x\" se><Errors><Erern".utf8)) == nil)
    }

    @Test func ec2ErrorsKeepAWSCode() {
        let body = Array(
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <Response><Errors><Error><Code>InvalidVolume.NotFound</Code><Message>The volume 'vol-x' does not exist.</Message></Error></Errors><RequestID>req-7</RequestID></Response>
            """.utf8)
        let error = ErrorDecoder.decode(AWSResponse(status: 400, headers: [], body: body), protocol: .ec2Query, service: "ec2", action: "AttachVolume")
        #expect(error.code == "InvalidVolume.NotFound")
        #expect(error.message == "The volume 'vol-x' does not exist.")
        #expect(error.requestID == "req-7")
        #expect(!error.isRetryable)
    }

    @Test func throttlingAndServerErrorsAreRetryable() {
        let throttled = Array("<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow down</Message></Error></Errors></Response>".utf8)
        let error = ErrorDecoder.decode(AWSResponse(status: 503, headers: [], body: throttled), protocol: .ec2Query, service: "ec2", action: "X")
        #expect(error.isThrottling && error.isRetryable)
        let html = ErrorDecoder.decode(AWSResponse(status: 500, headers: [], body: Array("<html>oops".utf8)), protocol: .ec2Query, service: "ec2", action: "X")
        #expect(html.isRetryable && html.statusCode == 500)
        let garbage = ErrorDecoder.decode(AWSResponse(status: 400, headers: [], body: Array("not xml".utf8)), protocol: .ec2Query, service: "ec2", action: "X")
        #expect(garbage.code == "MalformedResponse" && !garbage.isRetryable)
    }

    @Test func efsErrorsFromHeaderThenBody() {
        let headerFirst = ErrorDecoder.decode(
            AWSResponse(
                status: 404, headers: [("X-Amzn-ErrorType", "AccessPointNotFound:http://internal.amazon.com/coral/")],
                body: Array(#"{"ErrorCode":"Other","Message":"no such access point"}"#.utf8)),
            protocol: .restJSON, service: "elasticfilesystem", action: "DeleteAccessPoint")
        #expect(headerFirst.code == "AccessPointNotFound" && headerFirst.message == "no such access point")
        let typeOnly = ErrorDecoder.decode(
            AWSResponse(status: 400, headers: [], body: Array(#"{"__type":"com.amazon#FileSystemNotFound","message":"gone"}"#.utf8)),
            protocol: .restJSON, service: "elasticfilesystem", action: "X")
        #expect(typeOnly.code == "FileSystemNotFound" && typeOnly.message == "gone")
        let throttled = ErrorDecoder.decode(
            AWSResponse(status: 429, headers: [("x-amzn-ErrorType", "ThrottlingException")], body: []),
            protocol: .restJSON, service: "elasticfilesystem", action: "X")
        #expect(throttled.isThrottling)
    }

    @Test func filtersAndTagsBecomeQueryParameters() {
        let filters = EC2Client.filterParameters([.tag("StackID", "abc"), EC2Filter("status", ["available", "in-use"])])
        #expect(filters.map { "\($0.0)=\($0.1)" } == [
            "Filter.1.Name=tag:StackID", "Filter.1.Value.1=abc", "Filter.2.Name=status", "Filter.2.Value.1=available",
            "Filter.2.Value.2=in-use",
        ])
        let tags = EC2Client.tagSpecification("volume", [AWSTag("CloudstorVolume", "v")])
        #expect(tags.map { "\($0.0)=\($0.1)" } == [
            "TagSpecification.1.ResourceType=volume", "TagSpecification.1.Tag.1.Key=CloudstorVolume", "TagSpecification.1.Tag.1.Value=v",
        ])
    }

    @Test func backoffIsBoundedAndGrows() {
        let policy = RetryPolicy(base: .milliseconds(100), throttlingBase: .seconds(1), cap: .seconds(5))
        let top = { (ceiling: Double) in ceiling }
        #expect(policy.delay(after: 1, throttled: false, random: top) == .milliseconds(100))
        #expect(policy.delay(after: 3, throttled: false, random: top) == .milliseconds(400))
        #expect(policy.delay(after: 2, throttled: true, random: top) == .seconds(2))
        #expect(policy.delay(after: 20, throttled: true, random: top) == .seconds(5))
        for attempt in 1...10 {
            let d = policy.delay(after: attempt, throttled: false)
            #expect(d >= .zero && d <= .seconds(5))
        }
    }

    @Test func endpointsFollowTheSDKVariables() {
        let plain = AWSEndpoints(region: "eu-west-1", environment: [:])
        #expect(plain.baseURL(for: "ec2") == "https://ec2.eu-west-1.amazonaws.com")
        let emulated = AWSEndpoints(region: "eu-west-1", environment: ["AWS_ENDPOINT_URL": "http://127.0.0.1:5000/", "AWS_ENDPOINT_URL_EFS": "http://127.0.0.1:6000"])
        #expect(emulated.baseURL(for: "ec2") == "http://127.0.0.1:5000")
        #expect(emulated.baseURL(for: "elasticfilesystem") == "http://127.0.0.1:6000")
    }
}
