"""WeCom (企业微信) building blocks: callback crypto, change-event parsing and a thin API client."""
