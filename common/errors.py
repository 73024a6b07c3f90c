"""The project's one exception hierarchy: each subtype names a recovery action."""


class GlideinError(Exception):
    """Base of every error glidein raises on purpose; its message is one line for operators."""


class ConfigError(GlideinError):
    """Configuration is invalid; the message names the file and the path (`entries[3].gatekeeper`)."""


class ClassAdError(GlideinError):
    """A ClassAd or expression could not be parsed or evaluated."""


class ProtocolError(GlideinError):
    """A peer sent bytes that do not follow the wire protocol; drop that connection."""


class BusError(GlideinError):
    """The collector (ClassAd bus) could not be reached or refused the request; retry later."""


class SubmitError(GlideinError):
    """A batch system or schedd refused a submission or status query."""


class SecurityError(GlideinError):
    """A signature, token or ciphertext failed verification; never honour the request."""


class NotFoundError(GlideinError):
    """A requested object (job, pilot, entry) does not exist."""
