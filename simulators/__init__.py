"""Stand-ins for what the hall's software talks to outside itself: WeChat's servers and API (`simulators.wechat`)
and the hall's serial devices on pseudo-terminals (`simulators.devices`). Development and tests only: production
packages never import it."""
