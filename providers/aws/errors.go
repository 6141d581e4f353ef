package aws

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/mcp-secrets/mcp-secrets/providers"
)

// codeKinds maps the error codes of Secrets Manager (its own and the common
// ones of AWS JSON services) and of STS and SSO behind the credential chain
// to what the user sees. Codes not here go by HTTP status.
var codeKinds = map[string]error{
	"ResourceNotFoundException": providers.ErrNotFound,

	"AccessDeniedException":               providers.ErrDenied,
	"DecryptionFailure":                   providers.ErrDenied, // KMS would not decrypt for this caller
	"NotAuthorized":                       providers.ErrDenied,
	"OptInRequired":                       providers.ErrDenied,
	"UnrecognizedClientException":         providers.ErrDenied, // unknown access key or invalid token
	"InvalidClientTokenId":                providers.ErrDenied,
	"ExpiredTokenException":               providers.ErrDenied,
	"RequestExpired":                      providers.ErrDenied, // signed too long ago: clock skew
	"InvalidSignatureException":           providers.ErrDenied,
	"IncompleteSignature":                 providers.ErrDenied,
	"MissingAuthenticationTokenException": providers.ErrDenied,
	"AccessDenied":                        providers.ErrDenied, // STS
	"ExpiredToken":                        providers.ErrDenied, // STS
	"InvalidIdentityToken":                providers.ErrDenied, // STS web identity
	"UnauthorizedException":               providers.ErrDenied, // SSO

	"ThrottlingException":      providers.ErrUnavailable,
	"TooManyRequestsException": providers.ErrUnavailable, // SSO
	"InternalServiceError":     providers.ErrUnavailable,
	"InternalFailure":          providers.ErrUnavailable,
	"ServiceUnavailable":       providers.ErrUnavailable,
	"IDPCommunicationError":    providers.ErrUnavailable, // STS web identity
}

// classify turns an SDK error into one of the kinds the user sees, with the
// service's own reason in one line. Secrets Manager's messages name the
// secret, never its value, and the SDK prints only the code and message of
// an API error, never a request or response body.
func classify(err error) error {
	var (
		api     smithy.APIError
		creds   *credentialsError
		region  *aws.MissingRegionError
		send    *smithyhttp.RequestSendError
		op      *net.OpError
		retries *retry.MaxAttemptsError
	)
	switch {
	case errors.As(err, &region):
		return providers.Errorf(providers.ErrConfig, "no AWS region: set AWS_REGION or a profile's region, or use the secret's full ARN")
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: timed out", providers.ErrUnavailable)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: canceled", providers.ErrUnavailable)
	case errors.As(err, &creds) && !errors.As(err, &api):
		return fmt.Errorf("%w: %v", providers.ErrDenied, creds)
	case errors.As(err, &api):
		msg := api.ErrorCode()
		if m := api.ErrorMessage(); m != "" {
			msg += ": " + m
		}
		if errors.As(err, &creds) { // STS or SSO refused the credentials
			msg = "no usable AWS credentials: " + msg
		}
		if errors.As(err, &retries) {
			msg = fmt.Sprintf("%s (%d attempts)", msg, retries.Attempt)
		}
		return fmt.Errorf("%w: %s", apiKind(err, api.ErrorCode()), msg)
	case errors.As(err, &send):
		msg := send.Err.Error()
		if errors.As(err, &op) {
			msg = op.Error()
		}
		if errors.As(err, &retries) {
			msg = fmt.Sprintf("%s (%d attempts)", msg, retries.Attempt)
		}
		return fmt.Errorf("%w: %s", providers.ErrUnavailable, msg)
	}
	return fmt.Errorf("%w: %v", providers.ErrUnavailable, err)
}

// apiKind is the kind of an API error: by its code, else by its HTTP
// status. Secrets Manager answers most failures 400, so what is left there
// is a configuration error: InvalidParameterException,
// InvalidRequestException (e.g. a secret scheduled for deletion),
// ValidationException, InvalidAction.
func apiKind(err error, code string) error {
	if k, ok := codeKinds[code]; ok {
		return k
	}
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) {
		return providers.StatusKind(resp.HTTPStatusCode())
	}
	return providers.ErrConfig
}
